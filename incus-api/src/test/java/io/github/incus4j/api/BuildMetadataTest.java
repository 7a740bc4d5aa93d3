package io.github.incus4j.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPath;
import javax.xml.xpath.XPathConstants;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * The BOM has no parent (importing it must bring only incus4j's versions), so what Maven Central requires and the
 * plugin versions are written twice: here they are held equal to the parent's, and the BOM lists every published
 * module.
 */
class BuildMetadataTest {
    /** The Maven of the README's quick start on a fresh Debian 12. */
    private static final String DEBIAN_12_MAVEN = "3.8.7";
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static Document parent;
    private static Document bom;

    @BeforeAll
    static void readPoms() throws Exception {
        assumeTrue(Files.isRegularFile(ROOT.resolve("incus-bom/pom.xml")), "not in the source tree: no " + ROOT
                + "/incus-bom/pom.xml");
        parent = read(ROOT.resolve("pom.xml"));
        bom = read(ROOT.resolve("incus-bom/pom.xml"));
    }

    private static Document read(Path pom) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return f.newDocumentBuilder().parse(pom.toFile());
    }

    private static List<String> texts(Document d, String xpath) throws Exception {
        XPath x = XPathFactory.newInstance().newXPath();
        NodeList nodes = (NodeList) x.evaluate(xpath, d, XPathConstants.NODESET);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < nodes.getLength(); i++) {
            out.add(nodes.item(i).getTextContent().strip().replaceAll("\\s+", " "));
        }
        return out;
    }

    private static Map<String, String> pluginVersions(Document d) throws Exception {
        XPath x = XPathFactory.newInstance().newXPath();
        NodeList plugins = (NodeList) x.evaluate("/project/build/pluginManagement/plugins/plugin", d,
                XPathConstants.NODESET);
        Map<String, String> out = new TreeMap<>();
        for (int i = 0; i < plugins.getLength(); i++) {
            Node p = plugins.item(i);
            out.put(x.evaluate("artifactId", p), x.evaluate("version", p));
        }
        return out;
    }

    @Test
    void centralMetadataIsTheParents() throws Exception {
        for (String element : List.of("url", "licenses", "developers", "scm")) {
            List<String> mine = texts(bom, "/project/" + element);
            assertFalse(mine.isEmpty() || mine.get(0).isEmpty(), "the BOM has no " + element);
            assertEquals(texts(parent, "/project/" + element), mine, element);
        }
        assertTrue(Files.isRegularFile(ROOT.resolve("LICENSE")), "no LICENSE at the root");
        assertTrue(Files.readString(ROOT.resolve("LICENSE")).contains("Apache License"), "LICENSE is not Apache-2.0");
        assertEquals(List.of("Apache-2.0"), texts(parent, "/project/licenses/license/name"));
    }

    @Test
    void bomPluginsAreAtTheParentsVersions() throws Exception {
        Map<String, String> parentVersions = pluginVersions(parent);
        Map<String, String> bomVersions = pluginVersions(bom);
        // What a pom's lifecycle runs: clean, install, deploy, site.
        for (String plugin : List.of("maven-clean-plugin", "maven-install-plugin", "maven-deploy-plugin",
                "maven-site-plugin")) {
            assertEquals(parentVersions.get(plugin), bomVersions.get(plugin), plugin);
        }
        bomVersions.forEach((plugin, version) -> assertEquals(parentVersions.get(plugin), version, plugin));
    }

    /**
     * The quick start runs on Debian 12's Maven 3.8.7: a plugin that requires a newer Maven (exec-maven-plugin 3.7.0
     * needs 3.9) breaks it there. Read from each managed plugin's descriptor in the local repository; plugins not
     * downloaded (not used by this build) cannot be read and are passed over.
     */
    @Test
    void everyPluginRunsOnDebian12sMaven() throws Exception {
        Path repo = Path.of(System.getProperty("maven.repo.local",
                System.getProperty("user.home") + "/.m2/repository"));
        XPath x = XPathFactory.newInstance().newXPath();
        NodeList plugins = (NodeList) x.evaluate("/project/build/pluginManagement/plugins/plugin", parent,
                XPathConstants.NODESET);
        List<String> checked = new ArrayList<>();
        List<String> tooNew = new ArrayList<>();
        for (int i = 0; i < plugins.getLength(); i++) {
            Node p = plugins.item(i);
            String group = x.evaluate("groupId", p);
            String artifact = x.evaluate("artifactId", p);
            String version = x.evaluate("version", p);
            Path jar = repo.resolve((group.isEmpty() ? "org.apache.maven.plugins" : group).replace('.', '/'))
                    .resolve(artifact).resolve(version).resolve(artifact + "-" + version + ".jar");
            if (!Files.isRegularFile(jar)) {
                continue;
            }
            try (var zip = new java.util.zip.ZipFile(jar.toFile())) {
                var entry = zip.getEntry("META-INF/maven/plugin.xml");
                if (entry == null) {
                    continue;
                }
                DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
                f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
                Document descriptor = f.newDocumentBuilder().parse(zip.getInputStream(entry));
                String required = x.evaluate("/plugin/requiredMavenVersion", descriptor).strip();
                checked.add(artifact);
                if (!required.isEmpty() && compareVersions(required, DEBIAN_12_MAVEN) > 0) {
                    tooNew.add(artifact + " " + version + " requires Maven " + required);
                }
            }
        }
        assumeTrue(!checked.isEmpty(), "no managed plugin is in the local repository " + repo);
        assertEquals(List.of(), tooNew, "plugins that need a newer Maven than Debian 12's " + DEBIAN_12_MAVEN);
    }

    private static int compareVersions(String a, String b) {
        String[] x = a.split("[.-]");
        String[] y = b.split("[.-]");
        for (int i = 0; i < Math.max(x.length, y.length); i++) {
            int xi = i < x.length && x[i].matches("\\d+") ? Integer.parseInt(x[i]) : 0;
            int yi = i < y.length && y[i].matches("\\d+") ? Integer.parseInt(y[i]) : 0;
            if (xi != yi) {
                return Integer.compare(xi, yi);
            }
        }
        return 0;
    }

    @Test
    void bomManagesEveryPublishedModule() throws Exception {
        TreeSet<String> published = new TreeSet<>();
        for (String module : texts(parent, "/project/modules/module")) {
            Document pom = read(ROOT.resolve(module).resolve("pom.xml"));
            boolean skipped = texts(pom, "/project/properties/*[local-name()='maven.deploy.skip']").contains("true");
            if (!skipped && !texts(pom, "/project/packaging").contains("pom")) {
                published.addAll(texts(pom, "/project/artifactId"));
            }
        }
        assertFalse(published.isEmpty());
        assertEquals(published, new TreeSet<>(texts(bom, "/project/dependencyManagement/dependencies/dependency/"
                + "artifactId")));
    }
}
