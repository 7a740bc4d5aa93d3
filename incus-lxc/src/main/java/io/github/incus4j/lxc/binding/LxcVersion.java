package io.github.incus4j.lxc.binding;

import io.github.incus4j.api.NotSupportedException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A liblxc version as {@code lxc_get_version()} reports it ({@code "5.0.2"}, {@code "6.0.0~git2"}...), and what the
 * binding derives from it: whether it is supported and how large {@code struct lxc_container} is.
 *
 * @param major major version
 * @param minor minor version
 * @param micro micro version (0 when absent)
 * @param text the version as liblxc reported it
 */
record LxcVersion(int major, int minor, int micro, String text) implements Comparable<LxcVersion> {
    /** 4.0.5 inserted {@code seccomp_notify_fd_active} before {@code init_pidfd}: older layouts differ. */
    static final LxcVersion MINIMUM = new LxcVersion(4, 0, 5, "4.0.5");

    private static final Pattern FORMAT = Pattern.compile("(\\d+)\\.(\\d+)(?:\\.(\\d+))?.*");

    /** Parses a version; a text that does not start with {@code major.minor} is refused with its value named. */
    static LxcVersion parse(String text) {
        Matcher m = text == null ? null : FORMAT.matcher(text.strip());
        if (m == null || !m.matches()) {
            throw new NotSupportedException("Unrecognised liblxc version \"" + text + "\"");
        }
        int micro = m.group(3) == null ? 0 : Integer.parseInt(m.group(3));
        return new LxcVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), micro, text.strip());
    }

    /** Throws unless this version's struct layout is one the binding knows. */
    LxcVersion requireSupported() {
        if (compareTo(MINIMUM) < 0) {
            throw new NotSupportedException("liblxc " + text + " is too old: incus4j needs liblxc " + MINIMUM.text
                    + " or newer (the layout of struct lxc_container changed in 4.0.5)");
        }
        return this;
    }

    /**
     * Size of {@code struct lxc_container} (LP64): 568 bytes from 4.0.5 through 5.x, 584 from 6.0 (which appended
     * {@code rcv_timeout} and {@code set_timeout}). The struct is append-only since, so later versions are at least
     * that large; slots past this size are never read.
     */
    int containerStructSize() {
        return major >= 6 ? 584 : 568;
    }

    @Override
    public int compareTo(LxcVersion o) {
        int c = Integer.compare(major, o.major);
        if (c == 0) {
            c = Integer.compare(minor, o.minor);
        }
        return c != 0 ? c : Integer.compare(micro, o.micro);
    }

    @Override
    public String toString() {
        return text;
    }
}
