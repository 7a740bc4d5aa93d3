package io.github.incus4j.api.internal.config;

import java.util.regex.Pattern;

/** Go's {@code net.ParseIP}: dotted IPv4 (no leading zeros) or IPv6 (no zone). */
final class IpAddress {
    private static final Pattern V4_PART = Pattern.compile("0|[1-9][0-9]{0,2}");
    private static final Pattern V6_GROUP = Pattern.compile("[0-9a-fA-F]{1,4}");

    private IpAddress() {
    }

    static boolean isValid(String s) {
        return isV4(s) || isV6(s);
    }

    private static boolean isV4(String s) {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            return false;
        }
        for (String p : parts) {
            if (!V4_PART.matcher(p).matches() || Integer.parseInt(p) > 255) {
                return false;
            }
        }
        return true;
    }

    private static boolean isV6(String s) {
        int gap = s.indexOf("::");
        if (gap >= 0 && s.indexOf("::", gap + 1) >= 0) {
            return false;
        }
        if (gap < 0) {
            return groups(s, true) == 8;
        }
        String head = s.substring(0, gap);
        String tail = s.substring(gap + 2);
        int h = head.isEmpty() ? 0 : groups(head, false);
        int t = tail.isEmpty() ? 0 : groups(tail, true);
        return h >= 0 && t >= 0 && h + t <= 7;
    }

    /**
     * Number of 16-bit groups in a colon-separated run, or -1. Only the last run of an address may end with
     * an embedded IPv4 address, which counts as two groups.
     */
    private static int groups(String run, boolean last) {
        String[] parts = run.split(":", -1);
        int count = 0;
        for (int i = 0; i < parts.length; i++) {
            if (last && i == parts.length - 1 && parts[i].contains(".")) {
                if (!isV4(parts[i])) {
                    return -1;
                }
                count += 2;
            } else if (V6_GROUP.matcher(parts[i]).matches()) {
                count++;
            } else {
                return -1;
            }
        }
        return count;
    }
}
