package io.github.incus4j.api.surface;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.module.ModuleDescriptor;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.apiguardian.api.API;

/**
 * What one of our modules shows its users, read at test time from its compiled classes and its module descriptor:
 * the public types of each package it exports to everyone (the API and the SPI), and the packages it exports only to
 * named modules (our internal machinery). Tests compare {@link #describe()} with a committed text file, so that the
 * surface changes only on purpose, and check that every public type carries an {@link API} status matching its
 * package and that no user-facing signature mentions a type users cannot reach.
 */
public final class ExportedSurface {
    /** Set to {@code true} to rewrite the committed file instead of failing ({@code -Dincus4j.surface.update=true}). */
    public static final String UPDATE_PROPERTY = "incus4j.surface.update";

    private final String module;
    private final Set<String> openPackages = new TreeSet<>();
    private final TreeMap<String, Set<String>> qualified = new TreeMap<>();
    private final Set<String> packages = new TreeSet<>();
    private final List<Class<?>> classes = new ArrayList<>();

    private ExportedSurface(Class<?> anchor) {
        Path location = location(anchor);
        List<String> names = new ArrayList<>();
        ModuleDescriptor descriptor = read(location, names);
        module = descriptor.name();
        for (ModuleDescriptor.Exports e : descriptor.exports()) {
            if (e.isQualified()) {
                qualified.put(e.source(), new TreeSet<>(e.targets()));
            } else {
                openPackages.add(e.source());
            }
        }
        packages.addAll(descriptor.packages());
        ClassLoader loader = anchor.getClassLoader();
        for (String name : new TreeSet<>(names)) {
            try {
                classes.add(Class.forName(name, false, loader));
            } catch (ClassNotFoundException | LinkageError e) {
                throw new AssertionError("cannot load " + name + " from " + location, e);
            }
        }
    }

    /** The surface of the module that holds {@code anchor} (a directory of classes or a jar, with its descriptor). */
    public static ExportedSurface of(Class<?> anchor) {
        return new ExportedSurface(anchor);
    }

    /** The module's name, from its descriptor. */
    public String module() {
        return module;
    }

    /** The packages of this module that users cannot reach: exported only to named modules, or not at all. */
    public Set<String> hiddenPackages() {
        Set<String> out = new TreeSet<>(packages);
        out.removeAll(openPackages);
        return out;
    }

    /**
     * The surface as text: each package exported to everyone with its public types (nested ones as
     * {@code Outer.Inner}) and their {@link API} status, then each package exported only to named modules.
     */
    public List<String> describe() {
        List<String> out = new ArrayList<>();
        out.add("# The exported surface of module " + module + ": public types of the packages exported to everyone");
        out.add("# (with their @API status), then the packages exported only to our own modules. Checked by a test;");
        out.add("# after an intended change, rerun it with -D" + UPDATE_PROPERTY + "=true and commit the file.");
        for (String pkg : openPackages) {
            out.add("");
            out.add("package " + pkg);
            for (Class<?> c : classes) {
                if (c.getPackageName().equals(pkg) && visible(c)) {
                    API api = c.getAnnotation(API.class);
                    out.add("  " + c.getName().substring(pkg.length() + 1).replace('$', '.')
                            + (api == null ? "" : " " + api.status()));
                }
            }
        }
        if (!qualified.isEmpty()) {
            out.add("");
        }
        qualified.forEach((pkg, targets) -> out.add("internal " + pkg + " to " + String.join(", ", targets)));
        return out;
    }

    /**
     * Public top-level types without an {@link API} status, or with one that does not match where they are:
     * {@code INTERNAL} exactly when their package is hidden from users.
     */
    public List<String> statusProblems() {
        List<String> out = new ArrayList<>();
        for (Class<?> c : classes) {
            if (c.getDeclaringClass() != null || !Modifier.isPublic(c.getModifiers()) || c.isSynthetic()) {
                continue;
            }
            API api = c.getAnnotation(API.class);
            boolean hidden = !openPackages.contains(c.getPackageName());
            if (api == null) {
                out.add(c.getName() + ": no @API status");
            } else if (hidden && api.status() != API.Status.INTERNAL) {
                out.add(c.getName() + ": " + api.status() + " in a package users cannot reach (INTERNAL expected)");
            }
        }
        return out;
    }

    /**
     * Every place where a public or protected member of a type users can reach (in a package exported to everyone)
     * mentions a type of one of {@code hidden}: a user could not call or implement it without reaching into
     * internal code. Nested types of hidden packages count as hidden.
     */
    public List<String> leaksInto(Collection<String> hidden) {
        List<String> out = new ArrayList<>();
        for (Class<?> c : classes) {
            if (openPackages.contains(c.getPackageName()) && visible(c) && !isInternal(c)) {
                signatureTypes(c, (where, t) -> {
                    if (hidden.contains(t.getPackageName())) {
                        out.add(where + " -> " + t.getName());
                    }
                });
            }
        }
        return out;
    }

    /** Fails with a readable diff when {@code actual} differs from the committed {@code expected} file. */
    public static void assertMatches(Path expected, List<String> actual) {
        assertMatches(expected, actual, Boolean.getBoolean(UPDATE_PROPERTY));
    }

    /** As {@link #assertMatches(Path, List)}; with {@code update}, rewrites the file instead of comparing. */
    static void assertMatches(Path expected, List<String> actual, boolean update) {
        String text = String.join("\n", actual) + "\n";
        if (update) {
            try {
                Files.createDirectories(expected.getParent());
                Files.writeString(expected, text, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return;
        }
        List<String> committed;
        try {
            committed = Files.exists(expected) ? Files.readAllLines(expected, StandardCharsets.UTF_8) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> diff = diff(committed, actual);
        if (!diff.isEmpty()) {
            fail("The exported surface differs from " + expected + " (- committed, + now):\n"
                    + String.join("\n", diff) + "\nIf the change is intended, rerun with -D" + UPDATE_PROPERTY
                    + "=true and commit the file (and name the change in CHANGELOG.md).");
        }
    }

    /** A line diff in the order of the lines (the surface is sorted, so a longest-common-subsequence diff is enough). */
    static List<String> diff(List<String> before, List<String> after) {
        int n = before.size();
        int m = after.size();
        int[][] lcs = new int[n + 1][m + 1];
        for (int i = n - 1; i >= 0; i--) {
            for (int j = m - 1; j >= 0; j--) {
                lcs[i][j] = before.get(i).equals(after.get(j)) ? lcs[i + 1][j + 1] + 1
                        : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
            }
        }
        List<String> out = new ArrayList<>();
        String section = "";
        String shown = null;
        int i = 0;
        int j = 0;
        while (i < n || j < m) {
            String line;
            if (i < n && j < m && before.get(i).equals(after.get(j))) {
                line = "  " + before.get(i);
                i++;
                j++;
            } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
                line = "- " + before.get(i++);
            } else {
                line = "+ " + after.get(j++);
            }
            String body = line.substring(2);
            if (body.startsWith("package ")) {
                section = body;
            }
            if (!line.startsWith("  ")) {
                if (!section.equals(shown) && !body.equals(section)) {
                    out.add("  " + section);
                }
                shown = section;
                out.add(line);
            }
        }
        return out;
    }

    private static boolean isInternal(Class<?> c) {
        for (Class<?> k = c; k != null; k = k.getDeclaringClass()) {
            API api = k.getAnnotation(API.class);
            if (api != null) {
                return api.status() == API.Status.INTERNAL;
            }
        }
        return false;
    }

    /** Reachable from outside the module: public, and every enclosing class public (protected nested counts). */
    static boolean visible(Class<?> c) {
        if (c.isAnonymousClass() || c.isLocalClass() || c.isSynthetic()) {
            return false;
        }
        for (Class<?> k = c; k != null; k = k.getDeclaringClass()) {
            int mod = k.getModifiers();
            boolean ok = k.getDeclaringClass() == null ? Modifier.isPublic(mod)
                    : Modifier.isPublic(mod) || Modifier.isProtected(mod);
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    private static boolean visibleMember(int mod) {
        return Modifier.isPublic(mod) || Modifier.isProtected(mod);
    }

    /** A place in a signature and a class it mentions. */
    public interface Mention {
        void accept(String where, Class<?> type);
    }

    /**
     * Every class mentioned by the part of {@code c} that code outside its module sees: supertypes, type parameters,
     * public and protected fields, constructors and methods (parameters, results, exceptions), record components.
     */
    public static void signatureTypes(Class<?> c, Mention sink) {
        String cn = c.getName();
        walk(c.getGenericSuperclass(), cn + " extends", sink);
        for (Type t : c.getGenericInterfaces()) {
            walk(t, cn + " implements", sink);
        }
        for (TypeVariable<?> v : c.getTypeParameters()) {
            walk(v, cn + "<" + v.getName() + ">", sink);
        }
        for (Field f : c.getDeclaredFields()) {
            if (visibleMember(f.getModifiers()) && !f.isSynthetic()) {
                walk(f.getGenericType(), cn + "." + f.getName(), sink);
            }
        }
        for (Constructor<?> k : c.getDeclaredConstructors()) {
            if (visibleMember(k.getModifiers()) && !k.isSynthetic()) {
                walkAll(k.getGenericParameterTypes(), cn + ".<init>", sink);
                walkAll(k.getGenericExceptionTypes(), cn + ".<init> throws", sink);
            }
        }
        for (Method m : c.getDeclaredMethods()) {
            if (visibleMember(m.getModifiers()) && !m.isSynthetic() && !m.isBridge()) {
                String where = cn + "." + m.getName() + "()";
                walk(m.getGenericReturnType(), where, sink);
                walkAll(m.getGenericParameterTypes(), where, sink);
                walkAll(m.getGenericExceptionTypes(), where + " throws", sink);
                for (TypeVariable<?> v : m.getTypeParameters()) {
                    walk(v, where + "<" + v.getName() + ">", sink);
                }
            }
        }
        if (c.isRecord()) {
            for (RecordComponent rc : c.getRecordComponents()) {
                walk(rc.getGenericType(), cn + "." + rc.getName(), sink);
            }
        }
    }

    private static void walkAll(Type[] types, String where, Mention sink) {
        for (Type t : types) {
            walk(t, where, sink);
        }
    }

    private static void walk(Type t, String where, Mention sink) {
        walk(t, where, sink, new HashSet<>());
    }

    private static void walk(Type t, String where, Mention sink, Set<Type> seen) {
        if (t == null || !seen.add(t)) {
            return;
        }
        if (t instanceof Class<?> c) {
            while (c.isArray()) {
                c = c.getComponentType();
            }
            if (!c.isPrimitive()) {
                sink.accept(where, c);
            }
        } else if (t instanceof ParameterizedType p) {
            walk(p.getRawType(), where, sink, seen);
            walk(p.getOwnerType(), where, sink, seen);
            for (Type a : p.getActualTypeArguments()) {
                walk(a, where, sink, seen);
            }
        } else if (t instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) {
                walk(b, where, sink, seen);
            }
            for (Type b : w.getLowerBounds()) {
                walk(b, where, sink, seen);
            }
        } else if (t instanceof TypeVariable<?> v) {
            for (Type b : v.getBounds()) {
                walk(b, where, sink, seen);
            }
        } else if (t instanceof GenericArrayType g) {
            walk(g.getGenericComponentType(), where, sink, seen);
        }
    }

    private static Path location(Class<?> anchor) {
        try {
            return Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads the module descriptor at {@code location} and adds the names of its classes to {@code names}. */
    private static ModuleDescriptor read(Path location, List<String> names) {
        Consumer<String> entry = n -> {
            if (n.endsWith(".class") && !n.endsWith("module-info.class") && !n.endsWith("package-info.class")
                    && !n.startsWith("META-INF/")) {
                names.add(n.substring(0, n.length() - ".class".length()).replace('/', '.'));
            }
        };
        try {
            if (Files.isDirectory(location)) {
                try (Stream<Path> walk = Files.walk(location)) {
                    walk.filter(Files::isRegularFile)
                            .forEach(p -> entry.accept(location.relativize(p).toString().replace('\\', '/')));
                }
                try (InputStream in = Files.newInputStream(location.resolve("module-info.class"))) {
                    return ModuleDescriptor.read(in);
                }
            }
            try (JarFile jar = new JarFile(location.toFile())) {
                jar.stream().forEach(e -> entry.accept(e.getName()));
                try (InputStream in = jar.getInputStream(jar.getEntry("module-info.class"))) {
                    return ModuleDescriptor.read(in);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + location, e);
        }
    }
}
