package io.github.incus4j.api.internal.config;

import io.github.incus4j.api.internal.text.GoStrings;
import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;
import org.apiguardian.api.API;

/**
 * Instance and snapshot names as Incus checks them.
 *
 * <p>Instance names follow {@code ValidName} in {@code internal/server/instance/instance_utils.go}, which applies
 * {@code validate.IsHostname} (a DNS label) and wraps its reason as {@code "Invalid instance name: <reason>"}.
 * Snapshots are named {@code parent/snap} ({@code instance.SnapshotDelimiter}); the parent must be a valid instance
 * name and the short snapshot name must also pass {@code validate.IsAPIName}, the check Incus's REST layer applies when
 * a snapshot is created. Lengths are counted in UTF-8 bytes, as Go's {@code len} does.
 *
 * <p>Every failure is an {@link InvalidArgumentException} carrying Incus's text; {@code null} names are refused the
 * same way (as if empty), never with a {@link NullPointerException}.
 */
@API(status = INTERNAL)
public final class NameRules {
    /** Longest instance name, in bytes ({@code IsHostname}: one DNS label). */
    public static final int MAX_LENGTH = 63;

    /** Separates an instance name from its snapshot's name: {@code parent/snap}. */
    public static final String SNAPSHOT_DELIMITER = "/";

    /** {@code IsAPIName}'s limit, one more than a hostname's. */
    private static final int MAX_API_NAME_LENGTH = 64;

    private static final Pattern HOSTNAME_CHARS = Pattern.compile("[\\-a-zA-Z0-9]+");
    private static final Pattern DEVICE_NAME_CHARS = Pattern.compile("[/.\\-:_a-zA-Z0-9]+");
    private static final Pattern DIGITS = Pattern.compile("[0-9]+");
    private static final Pattern API_NAME_ENDS = Pattern.compile("[a-zA-Z0-9]+(.*[a-zA-Z0-9]+)?");

    /** {@code IsAPIName}'s reserved URL characters, in the order Incus tests them (it reports the first found). */
    private static final String[] API_NAME_RESERVED = {"$", "?", "&", "+", "\"", "'", "`", "*", "/"};

    private static final String INSTANCE_PREFIX = "Invalid instance name: ";
    private static final String SNAPSHOT_PREFIX = "Invalid instance snapshot name: ";

    private NameRules() {
    }

    /**
     * Incus's {@code ValidName}. A plain name must not contain {@code /}
     * ({@code The character "/" is reserved for snapshots}) and must be a hostname: 1-63 bytes of ASCII letters,
     * digits and hyphens, not starting or ending with a hyphen, not a number. A snapshot name ({@code isSnapshot})
     * is split at the first {@code /}: the parent gets the hostname rules, the rest {@link #validateSnapshotName}.
     *
     * @throws InvalidArgumentException with Incus's message, e.g. {@code Invalid instance name: Name cannot be a
     *     number}
     */
    public static void validateInstanceName(String name, boolean isSnapshot) {
        String n = name == null ? "" : name;
        requireStorable("instance", n);
        if (isSnapshot) {
            String reason = hostnameError(parentOf(n));
            if (reason != null) {
                throw new InvalidArgumentException(INSTANCE_PREFIX + reason);
            }
            validateSnapshotName(snapshotOf(n));
            return;
        }
        // Incus checks the delimiter first, so "a/b" gets the clearer message rather than the charset one.
        if (n.contains(SNAPSHOT_DELIMITER)) {
            throw new InvalidArgumentException(
                    "The character \"" + SNAPSHOT_DELIMITER + "\" is reserved for snapshots");
        }
        String reason = hostnameError(n);
        if (reason != null) {
            throw new InvalidArgumentException(INSTANCE_PREFIX + reason);
        }
    }

    /**
     * Checks the short name of a snapshot (the part after {@code /}). First {@code ValidName}'s own rule (no space,
     * no {@code /}: {@code Invalid instance snapshot name: Cannot contain space or / characters}), then
     * {@code validate.IsAPIName}: at most 64 bytes, no white space, none of {@code $ ? & + " ' ` *}, starting and
     * ending with a letter or digit. An empty name fails the last rule. Messages are prefixed
     * {@code Invalid instance snapshot name: }.
     */
    public static void validateSnapshotName(String snapshotName) {
        String n = snapshotName == null ? "" : snapshotName;
        requireStorable("snapshot", n);
        if (n.indexOf(' ') >= 0 || n.contains(SNAPSHOT_DELIMITER)) {
            throw new InvalidArgumentException(SNAPSHOT_PREFIX + "Cannot contain space or / characters");
        }
        String reason = apiNameError(n);
        if (reason != null) {
            throw new InvalidArgumentException(SNAPSHOT_PREFIX + reason);
        }
    }

    /**
     * Incus's project name checks ({@code projectsPost}): {@code validate.IsAPIName} (prefixed
     * {@code Invalid project name: }), then {@code projectValidateName}: no underscore
     * ({@code Project names may not contain underscores}), no quotes, not {@code *}, not {@code .} or {@code ..}.
     * NUL and unpaired surrogates are refused first (they cannot become file names).
     */
    public static void validateProjectName(String project) {
        String n = project == null ? "" : project;
        requireStorable("project", n);
        String reason = apiNameError(n);
        if (reason != null) {
            throw new InvalidArgumentException("Invalid project name: " + reason);
        }
        if (n.contains("_")) {
            throw new InvalidArgumentException("Project names may not contain underscores");
        }
        if (n.contains("'") || n.contains("\"")) {
            throw new InvalidArgumentException("Project names may not contain quotes");
        }
        if (n.equals("*")) {
            throw new InvalidArgumentException("Reserved project name");
        }
        if (n.equals(".") || n.equals("..")) {
            throw new InvalidArgumentException("Invalid project name " + GoStrings.quote(n));
        }
    }

    /**
     * Incus's profile name checks ({@code profilesPost}): not empty ({@code No name provided}), then
     * {@code validate.IsAPIName} prefixed {@code Invalid profile name: } (which also refuses {@code /}, {@code .} and
     * {@code ..}). NUL and unpaired surrogates are refused first.
     */
    public static void validateProfileName(String profile) {
        String n = profile == null ? "" : profile;
        if (n.isEmpty()) {
            throw new InvalidArgumentException("No name provided");
        }
        requireStorable("profile", n);
        String reason = apiNameError(n);
        if (reason != null) {
            throw new InvalidArgumentException("Invalid profile name: " + reason);
        }
    }

    /**
     * The reason a device name is refused, or {@code null}: Incus 6.0's {@code The maximum device name length is 64
     * characters} and {@code validate.IsDeviceName} (1-63 bytes, not starting with {@code .}, only ASCII letters,
     * digits and {@code / . - : _}), except that {@code /} is refused too: device names become file names here.
     */
    public static String deviceNameError(String name) {
        String n = name == null ? "" : name;
        String unsafe = unstorableReason(n);
        if (unsafe != null) {
            return unsafe;
        }
        int length = utf8Length(n);
        if (length > MAX_API_NAME_LENGTH) {
            return "The maximum device name length is " + MAX_API_NAME_LENGTH + " characters";
        }
        if (length < 1 || length > MAX_LENGTH) {
            return "Name must be 1-" + MAX_LENGTH + " characters long";
        }
        if (n.startsWith(".")) {
            return "Name must not start with \".\" character";
        }
        if (n.contains(SNAPSHOT_DELIMITER)) {
            return "Name cannot contain \"/\" (device names are used as file names)";
        }
        if (!DEVICE_NAME_CHARS.matcher(n).matches()) {
            return "Name can only contain alphanumeric, forward slash, hyphen, colon, underscore and full stop "
                    + "characters";
        }
        return null;
    }

    /**
     * Refuses, for any kind of name, what cannot become a file name or be stored as UTF-8: NUL and unpaired UTF-16
     * surrogates. Incus's own checks do not reach these (Go strings are bytes); the JVM's path layer would throw.
     *
     * @throws InvalidArgumentException {@code Invalid <kind> name "<value>": <reason>}
     */
    public static void requireStorable(String kind, String name) {
        String reason = unstorableReason(name);
        if (reason != null) {
            throw new InvalidArgumentException("Invalid " + kind + " name " + GoStrings.quote(name) + ": " + reason);
        }
    }

    private static String unstorableReason(String name) {
        if (name.indexOf('\0') >= 0) {
            return "Name cannot contain NUL characters";
        }
        if (ErrorTexts.hasUnpairedSurrogate(name)) {
            return "Name cannot contain unpaired UTF-16 surrogates";
        }
        return null;
    }

    /** Whether {@code name} designates a snapshot ({@code parent/snap}). */
    public static boolean isSnapshot(String name) {
        return required(name).contains(SNAPSHOT_DELIMITER);
    }

    /** The part before the first {@code /}, or the whole name ({@code api.GetParentAndSnapshotName}). */
    public static String parentName(String name) {
        return parentOf(required(name));
    }

    /** The part after the first {@code /}, or {@code ""} for an instance name. */
    public static String snapshotPart(String name) {
        return snapshotOf(required(name));
    }

    /** {@code parent/snap}, the full name Incus stores a snapshot under. Neither part is validated here. */
    public static String snapshotFullName(String parent, String snap) {
        if (snap == null) {
            throw new InvalidArgumentException(
                    SNAPSHOT_PREFIX + "Names must start and end with an alphanumeric character");
        }
        return required(parent) + SNAPSHOT_DELIMITER + snap;
    }

    private static String required(String name) {
        if (name == null) {
            throw new InvalidArgumentException(INSTANCE_PREFIX + "Name must be 1-" + MAX_LENGTH + " characters long");
        }
        return name;
    }

    private static String parentOf(String name) {
        int i = name.indexOf(SNAPSHOT_DELIMITER);
        return i < 0 ? name : name.substring(0, i);
    }

    private static String snapshotOf(String name) {
        int i = name.indexOf(SNAPSHOT_DELIMITER);
        return i < 0 ? "" : name.substring(i + SNAPSHOT_DELIMITER.length());
    }

    /** {@code validate.IsHostname}: {@code null} when valid, else its reason. The checks run in Incus's order. */
    private static String hostnameError(String name) {
        int length = utf8Length(name);
        if (length < 1 || length > MAX_LENGTH) {
            return "Name must be 1-" + MAX_LENGTH + " characters long";
        }
        if (name.startsWith("-")) {
            return "Name must not start with \"-\" character";
        }
        if (name.endsWith("-")) {
            return "Name must not end with \"-\" character";
        }
        if (isUint64(name)) {
            return "Name cannot be a number";
        }
        if (!HOSTNAME_CHARS.matcher(name).matches()) {
            return "Name can only contain alphanumeric and hyphen characters";
        }
        return null;
    }

    /** {@code validate.IsAPIName(name, false)}: {@code null} when valid, else its reason. */
    private static String apiNameError(String name) {
        if (utf8Length(name) > MAX_API_NAME_LENGTH) {
            return "Maximum name length is " + MAX_API_NAME_LENGTH + " characters";
        }
        if (name.codePoints().anyMatch(NameRules::isGoSpace)) {
            return "Name cannot contain white space";
        }
        for (String reserved : API_NAME_RESERVED) {
            if (name.contains(reserved)) {
                // Go's %q: the double quote itself is escaped.
                String quoted = "\"".equals(reserved) ? "\"\\\"\"" : "\"" + reserved + "\"";
                return "Name contains invalid character " + quoted;
            }
        }
        if (!API_NAME_ENDS.matcher(name).matches()) {
            return "Names must start and end with an alphanumeric character";
        }
        return null;
    }

    /**
     * Go's {@code strconv.ParseUint(name, 10, 64) == nil}: ASCII digits only, no sign, within 64 bits. A longer run of
     * digits is therefore not "a number" to Incus and is accepted as a hostname.
     */
    private static boolean isUint64(String name) {
        if (!DIGITS.matcher(name).matches()) {
            return false;
        }
        try {
            Long.parseUnsignedLong(name);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** Go's {@code unicode.IsSpace}: ASCII white space, NEL, NBSP and Unicode's White_Space separators. */
    private static boolean isGoSpace(int cp) {
        switch (cp) {
            case '\t', '\n', 0x0B, '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
                return true;
            default:
                return cp >= 0x2000 && cp <= 0x200A;
        }
    }

    private static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }
}
