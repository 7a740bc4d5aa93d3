package io.github.incus4j.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.migration.CriuMigrationArgs;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import java.io.IOException;
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
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The Java API against the seed {@code instance_interface.go}: (a) a hand-written table of every Go method and its
 * Java name, checked by reflection; (b) when the seed is at hand, the table checked against the seed itself (so a
 * method, constant or field cannot be missed), constants by value, structs by field; (c) no third-party type in a
 * public signature of an exported package.
 */
class ApiConformanceTest {

    /** One method of a Go interface and its Java counterpart. */
    record GoMethod(String goInterface, String goName, String javaName, int arity) {
    }

    private static final Map<String, Class<?>> INTERFACES = new LinkedHashMap<>();
    private static final List<GoMethod> METHODS = new ArrayList<>();

    private static void m(String iface, String go, String java, int arity) {
        METHODS.add(new GoMethod(iface, go, java, arity));
    }

    static {
        INTERFACES.put("ConfigReader", ConfigReader.class);
        INTERFACES.put("Instance", Instance.class);
        INTERFACES.put("Container", Container.class);
        INTERFACES.put("VM", VM.class);

        m("ConfigReader", "Project", "project", 0);
        m("ConfigReader", "Type", "type", 0);
        m("ConfigReader", "Architecture", "architecture", 0);
        m("ConfigReader", "ID", "id", 0);
        m("ConfigReader", "Name", "name", 0);
        m("ConfigReader", "ExpandedConfig", "expandedConfig", 0);
        m("ConfigReader", "ExpandedDevices", "expandedDevices", 0);
        m("ConfigReader", "LocalConfig", "localConfig", 0);
        m("ConfigReader", "LocalDevices", "localDevices", 0);

        m("Instance", "Freeze", "freeze", 0);
        m("Instance", "Shutdown", "shutdown", 1);
        m("Instance", "Start", "start", 1);
        m("Instance", "Stop", "stop", 1);
        m("Instance", "Restart", "restart", 1);
        m("Instance", "Rebuild", "rebuild", 2);
        m("Instance", "Unfreeze", "unfreeze", 0);
        m("Instance", "ReloadDevice", "reloadDevice", 1);
        m("Instance", "RegisterDevices", "registerDevices", 0);
        m("Instance", "Info", "info", 0);
        m("Instance", "IsPrivileged", "isPrivileged", 0);
        m("Instance", "Restore", "restore", 2);
        m("Instance", "Snapshot", "snapshot", 3);
        m("Instance", "Snapshots", "snapshots", 0);
        m("Instance", "Backups", "backups", 0);
        m("Instance", "UpdateBackupFile", "updateBackupFile", 0);
        m("Instance", "CanLiveMigrate", "canLiveMigrate", 0);
        m("Instance", "Rename", "rename", 2);
        m("Instance", "Update", "update", 2);
        m("Instance", "Delete", "delete", 1);
        m("Instance", "Export", "export", 5);
        m("Instance", "CGroup", "cgroup", 0);
        m("Instance", "VolatileSet", "volatileSet", 1);
        m("Instance", "FileSFTPConn", "fileSftpConn", 0);
        m("Instance", "FileSFTP", "fileSftp", 0);
        m("Instance", "Console", "console", 1);
        m("Instance", "Exec", "exec", 4);
        m("Instance", "Render", "render", 0);
        m("Instance", "RenderWithUsage", "renderWithUsage", 0);
        m("Instance", "RenderFull", "renderFull", 1);
        m("Instance", "RenderState", "renderState", 1);
        m("Instance", "IsRunning", "isRunning", 0);
        m("Instance", "IsFrozen", "isFrozen", 0);
        m("Instance", "IsEphemeral", "isEphemeral", 0);
        m("Instance", "IsSnapshot", "isSnapshot", 0);
        m("Instance", "IsStateful", "isStateful", 0);
        m("Instance", "LockExclusive", "lockExclusive", 0);
        m("Instance", "DeviceEventHandler", "deviceEventHandler", 1);
        m("Instance", "OnHook", "onHook", 2);
        m("Instance", "Location", "location", 0);
        m("Instance", "CloudInitID", "cloudInitId", 0);
        m("Instance", "Description", "description", 0);
        m("Instance", "CreationDate", "creationDate", 0);
        m("Instance", "LastUsedDate", "lastUsedDate", 0);
        m("Instance", "Profiles", "profiles", 0);
        m("Instance", "InitPID", "initPid", 0);
        m("Instance", "State", "state", 0);
        m("Instance", "ExpiryDate", "expiryDate", 0);
        m("Instance", "FillNetworkDevice", "fillNetworkDevice", 2);
        m("Instance", "ETag", "etag", 0);
        m("Instance", "Path", "path", 0);
        m("Instance", "ExecOutputPath", "execOutputPath", 0);
        m("Instance", "RootfsPath", "rootfsPath", 0);
        m("Instance", "TemplatesPath", "templatesPath", 0);
        m("Instance", "StatePath", "statePath", 0);
        m("Instance", "LogFilePath", "logFilePath", 0);
        m("Instance", "ConsoleBufferLogPath", "consoleBufferLogPath", 0);
        m("Instance", "LogPath", "logPath", 0);
        m("Instance", "RunPath", "runPath", 0);
        m("Instance", "DevicesPath", "devicesPath", 0);
        m("Instance", "StoragePool", "storagePool", 0);
        m("Instance", "CanMigrate", "canMigrate", 0);
        m("Instance", "MigrateSend", "migrateSend", 1);
        m("Instance", "MigrateReceive", "migrateReceive", 1);
        m("Instance", "SetOperation", "setOperation", 1);
        m("Instance", "Operation", "operation", 0);
        m("Instance", "DeferTemplateApply", "deferTemplateApply", 1);
        m("Instance", "Metrics", "metrics", 1);

        m("Container", "CurrentIdmap", "currentIdmap", 0);
        m("Container", "DiskIdmap", "diskIdmap", 0);
        m("Container", "NextIdmap", "nextIdmap", 0);
        m("Container", "ConsoleLog", "consoleLog", 1);
        m("Container", "InsertSeccompUnixDevice", "insertSeccompUnixDevice", 3);
        m("Container", "DevptsFd", "devptsFd", 0);
        m("Container", "IdmappedStorage", "idmappedStorage", 2);

        m("VM", "AgentCertificate", "agentCertificate", 0);
        m("VM", "ConsoleLog", "consoleLog", 0);
        m("VM", "ConsoleScreenshot", "consoleScreenshot", 1);
        m("VM", "DumpGuestMemory", "dumpGuestMemory", 2);
    }

    /** Which Go interfaces each one embeds. */
    private static final Map<String, List<String>> EMBEDS = Map.of(
            "ConfigReader", List.of(),
            "Instance", List.of("ConfigReader"),
            "Container", List.of("Instance"),
            "VM", List.of("Instance"));

    /** Go constants: their value in the seed and the Java constant that carries it. */
    private static final Map<String, Map.Entry<String, Supplier<String>>> CONSTANTS = new LinkedHashMap<>();

    private static void c(String go, String value, Supplier<String> java) {
        CONSTANTS.put(go, Map.entry(value, java));
    }

    static {
        c("HookStart", "onstart", () -> Hooks.START);
        c("HookStopNS", "onstopns", () -> Hooks.STOP_NS);
        c("HookStop", "onstop", () -> Hooks.STOP);
        c("ConsoleTypeConsole", "console", () -> ConsoleTypes.CONSOLE);
        c("ConsoleTypeVGA", "vga", () -> ConsoleTypes.VGA);
        c("TemplateTriggerCreate", "create", () -> TemplateTrigger.CREATE.value());
        c("TemplateTriggerCopy", "copy", () -> TemplateTrigger.COPY.value());
        c("TemplateTriggerRename", "rename", () -> TemplateTrigger.RENAME.value());
        c("PowerStateRunning", "RUNNING", () -> PowerState.RUNNING);
        c("PowerStateStopped", "STOPPED", () -> PowerState.STOPPED);
    }

    /** Go structs: the Java record and its components, one per Go field (an embedded struct is {@code common}). */
    private static final Map<String, List<String>> STRUCTS = new LinkedHashMap<>();

    static {
        STRUCTS.put("CriuMigrationArgs", List.of("cmd", "stateDir", "function", "stop", "actionScript", "dumpDir",
                "preDumpDir", "features", "op"));
        STRUCTS.put("Info", List.of("name", "version", "error", "type", "features"));
        STRUCTS.put("MigrateArgs", List.of("controlSend", "controlReceive", "stateConn", "filesystemConn",
                "snapshots", "live", "disconnect", "clusterMoveSourceName", "storagePool"));
        STRUCTS.put("MigrateSendArgs", List.of("common", "allowInconsistent"));
        STRUCTS.put("MigrateReceiveArgs", List.of("common", "instanceOperation", "refresh", "refreshExcludeOlder"));
    }

    /** Named Go types of the seed ({@code type X string}) and their Java types. */
    private static final Map<String, Class<?>> NAMED_TYPES = Map.of("TemplateTrigger", TemplateTrigger.class);

    private static final String PACKAGE = "io.github.incus4j.api";

    // ---- (a) the table against the Java API -----------------------------------------------------------------

    @Test
    void everyGoMethodHasItsJavaMethod() {
        List<String> missing = new ArrayList<>();
        for (GoMethod gm : METHODS) {
            Class<?> iface = INTERFACES.get(gm.goInterface());
            assertNotNull(iface, gm.goInterface());
            boolean found = Arrays.stream(iface.getDeclaredMethods())
                    .anyMatch(jm -> jm.getName().equals(gm.javaName()) && jm.getParameterCount() == gm.arity()
                            && Modifier.isPublic(jm.getModifiers()) && !jm.isSynthetic());
            if (!found) {
                missing.add(gm.goInterface() + "." + gm.goName() + " -> " + iface.getSimpleName() + "."
                        + gm.javaName() + " with " + gm.arity() + " parameter(s)");
            }
        }
        assertEquals(List.of(), missing, "Go methods without a Java method");
    }

    @Test
    void tableHasNoDuplicates() {
        Set<String> seen = new HashSet<>();
        for (GoMethod gm : METHODS) {
            assertTrue(seen.add(gm.goInterface() + "." + gm.goName()), "twice: " + gm);
        }
    }

    @Test
    void interfacesEmbedAsInGo() {
        EMBEDS.forEach((iface, embeds) -> {
            Set<Class<?>> supers = Set.of(INTERFACES.get(iface).getInterfaces());
            for (String e : embeds) {
                assertTrue(supers.contains(INTERFACES.get(e)), iface + " extends " + e);
            }
            assertTrue(INTERFACES.get(iface).isInterface(), iface);
        });
    }

    @Test
    void constantsHaveTheSeedsValues() {
        CONSTANTS.forEach((go, v) -> assertEquals(v.getKey(), v.getValue().get(), go));
    }

    /** The record of a Go struct: in the root package, or in {@code migration} for the migration arguments. */
    private static Class<?> structClass(String goName) throws ClassNotFoundException {
        String pkg = goName.startsWith("Migrate") || goName.startsWith("CriuMigration") ? PACKAGE + ".migration" : PACKAGE;
        return Class.forName(pkg + "." + goName);
    }

    @Test
    void structsAreRecordsWithAComponentPerGoField() throws ClassNotFoundException {
        for (Map.Entry<String, List<String>> e : STRUCTS.entrySet()) {
            Class<?> c = structClass(e.getKey());
            assertTrue(c.isRecord(), c + " is a record");
            assertEquals(e.getValue(), Arrays.stream(c.getRecordComponents()).map(RecordComponent::getName).toList(),
                    e.getKey() + " components");
        }
        assertEquals(MigrateArgs.class, MigrateSendArgs.class.getRecordComponents()[0].getType());
        assertEquals(MigrateArgs.class, MigrateReceiveArgs.class.getRecordComponents()[0].getType());
    }

    // ---- (b) the table against the seed -----------------------------------------------------------------------

    /** The seed: {@code -Dincus4j.seed=...}, else {@code shared/spec/instance_interface.go} in a parent directory. */
    static Path seed() {
        String prop = System.getProperty("incus4j.seed");
        if (prop != null && !prop.isBlank()) {
            Path p = Path.of(prop);
            return Files.isRegularFile(p) ? p : null;
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path p = d.resolve("shared/spec/instance_interface.go");
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }

    private static String seedText() throws IOException {
        return Files.readString(requireSeed(seed(), ciSetting(System.getenv())), StandardCharsets.UTF_8);
    }

    /** Set by {@code .ci/run}: there the seed must be found, and a missing one fails the tests needing it. */
    static final String CI_VARIABLE = "INCUS4J_CI";

    /**
     * The setting that marks a CI run, as "NAME=value": {@link #CI_VARIABLE} (set by {@code .ci/run}), or
     * {@code CI=true}, which hosted CI services set (a CI job running {@code mvn verify} without {@code .ci/run});
     * null elsewhere.
     */
    static String ciSetting(Map<String, String> env) {
        String own = env.get(CI_VARIABLE);
        if (own != null && !own.isEmpty()) {
            return CI_VARIABLE + "=" + own;
        }
        String ci = env.get("CI");
        return "true".equalsIgnoreCase(ci) ? "CI=" + ci : null;
    }

    /**
     * {@code seed} when found; else the calling test fails where {@code ciSetting} ({@link #ciSetting}) is not null,
     * so that CI cannot pass without checking the API against the seed, and is skipped with the reason elsewhere.
     */
    static Path requireSeed(Path seed, String ciSetting) {
        if (seed != null) {
            return seed;
        }
        String where = System.getProperty("incus4j.seed") != null
                ? "-Dincus4j.seed=" + System.getProperty("incus4j.seed") + " is not a file"
                : "shared/spec/instance_interface.go not found above " + Path.of("").toAbsolutePath();
        if (ciSetting != null) {
            fail("the seed-conformance tests must run in CI (" + ciSetting + "), but " + where);
        }
        Assumptions.abort("seed missing: " + where);
        return null;
    }

    @Test
    void aMissingSeedFailsInCiAndIsSkippedElsewhere() {
        Path found = Path.of("instance_interface.go");
        assertEquals(found, requireSeed(found, "INCUS4J_CI=1"));
        assertEquals(found, requireSeed(found, null));
        for (String ci : new String[] {"INCUS4J_CI=1", "CI=true"}) {
            org.opentest4j.AssertionFailedError inCi = org.junit.jupiter.api.Assertions.assertThrows(
                    org.opentest4j.AssertionFailedError.class, () -> requireSeed(null, ci));
            assertTrue(inCi.getMessage().startsWith("the seed-conformance tests must run in CI (" + ci + "), but "),
                    inCi.getMessage());
        }
        org.opentest4j.TestAbortedException skipped = org.junit.jupiter.api.Assertions.assertThrows(
                org.opentest4j.TestAbortedException.class, () -> requireSeed(null, null));
        assertTrue(skipped.getMessage().contains("seed missing: "), skipped.getMessage());
    }

    @Test
    void ciIsRecognisedByOurVariableOrByCiTrue() {
        assertEquals("INCUS4J_CI=1", ciSetting(Map.of("INCUS4J_CI", "1")));
        assertEquals("INCUS4J_CI=1", ciSetting(Map.of("INCUS4J_CI", "1", "CI", "true")));
        assertEquals("CI=true", ciSetting(Map.of("CI", "true")));
        assertEquals("CI=TRUE", ciSetting(Map.of("CI", "TRUE")));
        assertEquals(null, ciSetting(Map.of()));
        assertEquals(null, ciSetting(Map.of("CI", "false", "INCUS4J_CI", "")));
        assertEquals(null, ciSetting(Map.of("CI", "")));
    }

    private static String stripComment(String line) {
        int i = line.indexOf("//");
        return (i < 0 ? line : line.substring(0, i)).trim();
    }

    /** Parameters at depth 0 of a Go parameter list ({@code "a int, b func(x, y int)"} has two). */
    static int arity(String params) {
        if (params.isBlank()) {
            return 0;
        }
        int depth = 0;
        int n = 1;
        for (char ch : params.toCharArray()) {
            if (ch == '(' || ch == '[' || ch == '{') {
                depth++;
            } else if (ch == ')' || ch == ']' || ch == '}') {
                depth--;
            } else if (ch == ',' && depth == 0) {
                n++;
            }
        }
        return n;
    }

    /** Blocks {@code type Name <kind> { ... }} of the seed, by name. */
    private static Map<String, String> blocks(String go, String kind) {
        Map<String, String> out = new LinkedHashMap<>();
        Matcher m = Pattern.compile("(?ms)^type\\s+(\\w+)\\s+" + kind + "\\s*\\{\\s*$(.*?)^\\}").matcher(go);
        while (m.find()) {
            out.put(m.group(1), m.group(2));
        }
        return out;
    }

    /** Go interface name to its methods (name to arity); embedded interfaces are reported under {@code "embeds"}. */
    static Map<String, Map<String, Integer>> goInterfaces(String go, Map<String, List<String>> embeds) {
        Pattern method = Pattern.compile("^([A-Z]\\w*)\\((.*?)\\)\\s*(.*)$");
        Pattern embedded = Pattern.compile("^[A-Z]\\w*$");
        Map<String, Map<String, Integer>> out = new LinkedHashMap<>();
        blocks(go, "interface").forEach((name, body) -> {
            Map<String, Integer> methods = new LinkedHashMap<>();
            List<String> emb = new ArrayList<>();
            for (String raw : body.split("\n")) {
                String line = stripComment(raw);
                if (line.isEmpty()) {
                    continue;
                }
                Matcher mm = method.matcher(line);
                if (mm.matches()) {
                    methods.put(mm.group(1), arity(mm.group(2)));
                } else if (embedded.matcher(line).matches()) {
                    emb.add(line);
                } else {
                    fail("unparsed line in interface " + name + ": " + raw);
                }
            }
            out.put(name, methods);
            embeds.put(name, emb);
        });
        return out;
    }

    /** Go string constants, single ({@code const X T = "v"}) and grouped ({@code const ( X = "v" )}). */
    static Map<String, String> goConstants(String go) {
        Map<String, String> out = new LinkedHashMap<>();
        Pattern one = Pattern.compile("^([A-Z]\\w*)(?:\\s+\\w+)?\\s*=\\s*\"([^\"]*)\"$");
        Matcher single = Pattern.compile("(?m)^const\\s+(?!\\()(.*)$").matcher(go);
        while (single.find()) {
            Matcher c = one.matcher(stripComment(single.group(1)));
            assertTrue(c.matches(), "unparsed constant: " + single.group());
            out.put(c.group(1), c.group(2));
        }
        Matcher group = Pattern.compile("(?ms)^const\\s*\\(\\s*$(.*?)^\\)").matcher(go);
        while (group.find()) {
            for (String raw : group.group(1).split("\n")) {
                String line = stripComment(raw);
                if (line.isEmpty()) {
                    continue;
                }
                Matcher c = one.matcher(line);
                assertTrue(c.matches(), "unparsed constant: " + raw);
                out.put(c.group(1), c.group(2));
            }
        }
        return out;
    }

    /** A Go field name as a Java component: {@code StateDir -> stateDir}, {@code ID -> id}. */
    static String javaFieldName(String go) {
        if (go.equals(go.toUpperCase(java.util.Locale.ROOT))) {
            return go.toLowerCase(java.util.Locale.ROOT);
        }
        int run = 0;
        while (run < go.length() && Character.isUpperCase(go.charAt(run))) {
            run++;
        }
        int lower = run > 1 ? run - 1 : 1;
        return go.substring(0, lower).toLowerCase(java.util.Locale.ROOT) + go.substring(lower);
    }

    /** Go struct name to its fields as Java component names (an embedded struct is {@code common}). */
    static Map<String, List<String>> goStructs(String go) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        blocks(go, "struct").forEach((name, body) -> {
            List<String> fields = new ArrayList<>();
            for (String raw : body.split("\n")) {
                String line = stripComment(raw);
                if (line.isEmpty()) {
                    continue;
                }
                String[] tokens = line.split("\\s+");
                if (tokens.length == 1) {
                    fields.add("common");
                } else {
                    // "A, B int" declares two fields.
                    String names = line.substring(0, line.indexOf(tokens[tokens.length - 1])).trim();
                    for (String n : names.split(",")) {
                        if (!n.isBlank()) {
                            fields.add(javaFieldName(n.trim().split("\\s+")[0]));
                        }
                    }
                }
            }
            out.put(name, fields);
        });
        return out;
    }

    @Test
    void parsersUnderstandGo() {
        assertEquals(0, arity(""));
        assertEquals(2, arity("newName string, applyTemplateTrigger bool"));
        assertEquals(2, arity("f func(a, b int) error, x map[string]string"));
        assertEquals("stateDir", javaFieldName("StateDir"));
        assertEquals("id", javaFieldName("ID"));
        assertEquals("cpuCount", javaFieldName("CPUCount"));
        assertEquals("op", javaFieldName("Op"));
    }

    @Test
    void tableCoversEveryMethodOfTheSeed() throws IOException {
        String go = seedText();
        Map<String, List<String>> embeds = new TreeMap<>();
        Map<String, Map<String, Integer>> seedInterfaces = goInterfaces(go, embeds);
        assertEquals(INTERFACES.keySet(), seedInterfaces.keySet(), "the seed's interfaces");
        assertEquals(new TreeMap<>(EMBEDS), embeds, "embedded interfaces");

        Map<String, Map<String, Integer>> table = new LinkedHashMap<>();
        for (GoMethod gm : METHODS) {
            table.computeIfAbsent(gm.goInterface(), k -> new LinkedHashMap<>()).put(gm.goName(), gm.arity());
        }
        for (String iface : seedInterfaces.keySet()) {
            Map<String, Integer> seedMethods = seedInterfaces.get(iface);
            Map<String, Integer> ours = table.getOrDefault(iface, Map.of());
            Set<String> notInTable = new TreeSet<>(seedMethods.keySet());
            notInTable.removeAll(ours.keySet());
            assertEquals(Set.of(), notInTable, iface + ": seed methods missing from the table");
            Set<String> notInSeed = new TreeSet<>(ours.keySet());
            notInSeed.removeAll(seedMethods.keySet());
            assertEquals(Set.of(), notInSeed, iface + ": table entries the seed does not have");
            assertEquals(new TreeMap<>(seedMethods), new TreeMap<>(ours), iface + ": parameter counts");
        }
        assertEquals(88, METHODS.size(), "methods of the four interfaces: 9 + 68 + 7 + 4");
    }

    @Test
    void everyConstantOfTheSeedHasAJavaConstant() throws IOException {
        Map<String, String> seedConstants = goConstants(seedText());
        assertEquals(new TreeSet<>(CONSTANTS.keySet()), new TreeSet<>(seedConstants.keySet()), "constants");
        seedConstants.forEach((name, value) -> {
            assertEquals(value, CONSTANTS.get(name).getKey(), name + " in the table");
            assertEquals(value, CONSTANTS.get(name).getValue().get(), name + " in Java");
        });
    }

    @Test
    void everyStructOfTheSeedIsARecordWithItsFields() throws IOException, ClassNotFoundException {
        Map<String, List<String>> seedStructs = goStructs(seedText());
        assertEquals(new TreeSet<>(STRUCTS.keySet()), new TreeSet<>(seedStructs.keySet()), "structs");
        for (Map.Entry<String, List<String>> e : seedStructs.entrySet()) {
            Class<?> c = structClass(e.getKey());
            assertTrue(c.isRecord(), c + " is a record");
            List<String> components = Arrays.stream(c.getRecordComponents()).map(RecordComponent::getName).toList();
            assertEquals(e.getValue(), components, e.getKey() + ": one component per Go field, in order");
        }
    }

    @Test
    void everyNamedTypeOfTheSeedHasAJavaType() throws IOException {
        Matcher m = Pattern.compile("(?m)^type\\s+(\\w+)\\s+(string|int|uint)\\s*$").matcher(seedText());
        Set<String> named = new TreeSet<>();
        while (m.find()) {
            named.add(m.group(1));
        }
        assertEquals(new TreeSet<>(NAMED_TYPES.keySet()), named);
        NAMED_TYPES.forEach((go, java) -> assertEquals(PACKAGE + "." + go, java.getName()));
    }

    // ---- (c) no third-party type in an exported signature -----------------------------------------------------

    private static final List<String> FORBIDDEN = List.of("com.google.", "com.fasterxml.", "jnr.",
            "com.hierynomus.", "net.schmizz.", "org.bouncycastle.");

    static Path classesDir() throws URISyntaxException {
        Path fromCodeSource = Path.of(Instance.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (Files.isDirectory(fromCodeSource)) {
            return fromCodeSource;
        }
        return Path.of("target/classes").toAbsolutePath();
    }

    private static boolean exportedPackage(String pkg) {
        return pkg.startsWith(PACKAGE) && !pkg.equals(PACKAGE + ".internal")
                && !pkg.startsWith(PACKAGE + ".internal.");
    }

    /** Visible from outside the module: public, and every enclosing class public (protected nested counts). */
    private static boolean visible(Class<?> c) {
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

    private static void check(Type t, String where, List<String> out, Set<Type> seen) {
        if (t == null || !seen.add(t)) {
            return;
        }
        if (t instanceof Class<?> c) {
            while (c.isArray()) {
                c = c.getComponentType();
            }
            String name = c.getName();
            for (String f : FORBIDDEN) {
                if (name.startsWith(f)) {
                    out.add(where + ": " + name);
                }
            }
        } else if (t instanceof ParameterizedType p) {
            check(p.getRawType(), where, out, seen);
            check(p.getOwnerType(), where, out, seen);
            for (Type a : p.getActualTypeArguments()) {
                check(a, where, out, seen);
            }
        } else if (t instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) {
                check(b, where, out, seen);
            }
            for (Type b : w.getLowerBounds()) {
                check(b, where, out, seen);
            }
        } else if (t instanceof TypeVariable<?> v) {
            for (Type b : v.getBounds()) {
                check(b, where, out, seen);
            }
        } else if (t instanceof GenericArrayType g) {
            check(g.getGenericComponentType(), where, out, seen);
        }
    }

    private static void checkAll(Type[] types, String where, List<String> out) {
        for (Type t : types) {
            check(t, where, out, new HashSet<>());
        }
    }

    static List<String> leaks(Class<?> c) {
        List<String> out = new ArrayList<>();
        String cn = c.getName();
        check(c.getGenericSuperclass(), cn + " extends", out, new HashSet<>());
        checkAll(c.getGenericInterfaces(), cn + " implements", out);
        for (TypeVariable<?> v : c.getTypeParameters()) {
            check(v, cn + "<" + v.getName() + ">", out, new HashSet<>());
        }
        for (Field f : c.getDeclaredFields()) {
            if (visibleMember(f.getModifiers()) && !f.isSynthetic()) {
                check(f.getGenericType(), cn + "." + f.getName(), out, new HashSet<>());
            }
        }
        for (Constructor<?> k : c.getDeclaredConstructors()) {
            if (visibleMember(k.getModifiers()) && !k.isSynthetic()) {
                checkAll(k.getGenericParameterTypes(), cn + ".<init>", out);
                checkAll(k.getGenericExceptionTypes(), cn + ".<init> throws", out);
            }
        }
        for (Method m : c.getDeclaredMethods()) {
            if (visibleMember(m.getModifiers()) && !m.isSynthetic() && !m.isBridge()) {
                String where = cn + "." + m.getName() + "()";
                check(m.getGenericReturnType(), where, out, new HashSet<>());
                checkAll(m.getGenericParameterTypes(), where, out);
                checkAll(m.getGenericExceptionTypes(), where + " throws", out);
                for (TypeVariable<?> v : m.getTypeParameters()) {
                    check(v, where + "<" + v.getName() + ">", out, new HashSet<>());
                }
            }
        }
        if (c.isRecord()) {
            for (RecordComponent rc : c.getRecordComponents()) {
                check(rc.getGenericType(), cn + "." + rc.getName(), out, new HashSet<>());
            }
        }
        return out;
    }

    @Test
    void noThirdPartyTypeInAnExportedSignature() throws Exception {
        Path classes = classesDir();
        assertTrue(Files.isDirectory(classes), classes + " (run after compiling)");
        List<String> names;
        try (Stream<Path> s = Files.walk(classes)) {
            names = s.filter(p -> p.toString().endsWith(".class"))
                    .map(p -> classes.relativize(p).toString())
                    .filter(n -> !n.endsWith("module-info.class") && !n.endsWith("package-info.class"))
                    .map(n -> n.substring(0, n.length() - ".class".length()).replace(
                            classes.getFileSystem().getSeparator(), "."))
                    .sorted()
                    .collect(Collectors.toList());
        }
        ClassLoader loader = Instance.class.getClassLoader();
        List<String> leaks = new ArrayList<>();
        int scanned = 0;
        for (String name : names) {
            int dot = name.lastIndexOf('.');
            if (!exportedPackage(name.substring(0, dot))) {
                continue;
            }
            Class<?> c = Class.forName(name, false, loader);
            if (!visible(c)) {
                continue;
            }
            scanned++;
            leaks.addAll(leaks(c));
        }
        assertTrue(scanned > 50, "scanned only " + scanned + " classes in " + classes);
        assertEquals(List.of(), leaks, "third-party types in public signatures");
    }

    /** The scan does find a leak: a class that exposes Jackson is reported. */
    @Test
    void theScanDetectsALeak() {
        abstract class Leaky {
            public abstract com.fasterxml.jackson.databind.ObjectMapper mapper();

            public abstract void take(List<? extends com.fasterxml.jackson.core.JsonParser> parsers);

            public Map<String, com.fasterxml.jackson.databind.JsonNode[]> nodes;

            @com.fasterxml.jackson.annotation.JsonProperty("ok")
            public abstract String annotated();
        }
        List<String> found = leaks(Leaky.class);
        assertFalse(found.isEmpty());
        assertTrue(found.stream().anyMatch(s -> s.contains("ObjectMapper")), found.toString());
        assertTrue(found.stream().anyMatch(s -> s.contains("JsonParser")), found.toString());
        assertTrue(found.stream().anyMatch(s -> s.contains(".nodes: ") && s.contains("JsonNode")), found.toString());
        assertTrue(found.stream().noneMatch(s -> s.contains("annotated")), "annotations are allowed: " + found);
    }
}
