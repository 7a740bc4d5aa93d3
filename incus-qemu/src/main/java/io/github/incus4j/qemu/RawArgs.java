package io.github.incus4j.qemu;

import io.github.incus4j.api.InvalidArgumentException;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits {@code raw.qemu} into arguments as Incus does ({@code shellquote.Split}): whitespace separates, single
 * quotes keep everything literally, double quotes keep everything but backslash escapes, a backslash escapes the
 * next character. Nothing is expanded: no shell runs.
 */
final class RawArgs {
    private RawArgs() {
    }

    static List<String> split(String raw) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean inWord = false;
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '\'') {
                int end = raw.indexOf('\'', i + 1);
                if (end < 0) {
                    throw unterminated(raw);
                }
                cur.append(raw, i + 1, end);
                i = end;
                inWord = true;
            } else if (c == '"') {
                int j = i + 1;
                for (; j < raw.length() && raw.charAt(j) != '"'; j++) {
                    char d = raw.charAt(j);
                    if (d == '\\' && j + 1 < raw.length() && "\"\\$`".indexOf(raw.charAt(j + 1)) >= 0) {
                        d = raw.charAt(++j);
                    }
                    cur.append(d);
                }
                if (j >= raw.length()) {
                    throw unterminated(raw);
                }
                i = j;
                inWord = true;
            } else if (c == '\\' && i + 1 < raw.length()) {
                cur.append(raw.charAt(++i));
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) {
                    out.add(cur.toString());
                    cur.setLength(0);
                    inWord = false;
                }
            } else {
                cur.append(c);
                inWord = true;
            }
        }
        if (inWord) {
            out.add(cur.toString());
        }
        return out;
    }

    private static InvalidArgumentException unterminated(String raw) {
        return new InvalidArgumentException("Invalid raw.qemu " + io.github.incus4j.api.internal.text.ErrorTexts.quote(raw)
                + ": unterminated quote");
    }
}
