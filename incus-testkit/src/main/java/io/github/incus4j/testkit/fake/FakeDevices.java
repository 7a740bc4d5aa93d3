package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The devices of one fake instance as Incus's {@code deviceStart}/{@code deviceStop} would set them up: a NIC gets
 * its host-side name ({@code volatile.<nic>.host_name}), a disk shares a host directory (checked at start as Incus
 * checks it, and mounted into the files the instance's processes see), a proxy device forwards host connections to
 * a {@link FakeService} registered with {@link FakeInstance#listen} while the instance runs. Others need nothing in
 * the simulation.
 */
final class FakeDevices {
    private final FakeInstance instance;
    /** Servers "inside" the instance by TCP port ({@link #listen}); proxy devices forward to them. */
    private final ConcurrentHashMap<Integer, FakeService> services = new ConcurrentHashMap<>();
    /** Running proxy devices by device name. */
    private final ConcurrentHashMap<String, FakeProxy> proxies = new ConcurrentHashMap<>();

    FakeDevices(FakeInstance instance) {
        this.instance = instance;
    }

    /** See {@link FakeInstance#listen}. */
    AutoCloseable listen(int port, FakeService service) {
        if (port < 1 || port > 65535) {
            throw new InvalidArgumentException("Invalid port " + port + ": must be 1-65535");
        }
        Objects.requireNonNull(service, "service");
        services.put(port, service);
        return () -> services.remove(port, service);
    }

    /** See {@link FakeInstance#proxyPort}. */
    int proxyPort(String device) {
        FakeProxy p = proxies.get(device);
        if (p == null) {
            throw new NotFoundException("No running proxy device " + ErrorTexts.quote(device));
        }
        return p.listenPort();
    }

    /** Incus's {@code deviceStart} for every device, in name order; a failure stops those already started. */
    void startAll() {
        try {
            for (Map.Entry<String, Device> e : instance.startableDevices()) {
                start(e.getKey(), e.getValue());
            }
        } catch (RuntimeException e) {
            stopAll();
            throw e;
        }
    }

    void start(String name, Device d) {
        switch (d.type()) {
            case "nic":
                // The host side of the instance's interface, as a veth pair or a tap device gets it.
                String prefix = instance.type() == InstanceType.VM ? "tap" : "veth";
                String host = d.get("host_name") != null && !d.get("host_name").isEmpty() ? d.get("host_name")
                        : prefix + String.format("%08x", new SplittableRandom().nextInt());
                instance.setDeviceVolatile(name, Map.of("host_name", host));
                break;
            case "disk":
                if (!"/".equals(d.get("path"))) {
                    sharedFolder(name, d);
                }
                break;
            case "proxy":
                // Nothing answers inside a stopped instance, whatever a late connection finds.
                FakeProxy p = FakeProxy.open(instance.name(), name, d,
                        port -> instance.guest() == null ? null : services.get(port));
                FakeProxy old = proxies.put(name, p);
                if (old != null) {
                    old.close();
                }
                break;
            default:
                break;
        }
    }

    void stop(String name, Device d) {
        if ("proxy".equals(d.type())) {
            FakeProxy p = proxies.remove(name);
            if (p != null) {
                p.close();
            }
        } else if ("nic".equals(d.type())) {
            instance.setDeviceVolatile(name, Map.of("host_name", ""));
        }
    }

    void stopAll() {
        proxies.values().forEach(FakeProxy::close);
        proxies.clear();
        Map<String, String> clear = new HashMap<>();
        instance.localConfig().keySet().stream().filter(k -> k.startsWith("volatile.") && k.endsWith(".host_name"))
                .forEach(k -> clear.put(k, ""));
        if (!clear.isEmpty() && !instance.isSnapshot()) {
            instance.setVolatile(clear);
        }
    }

    /**
     * A disk device's host directory, checked as Incus checks it at start ({@code Missing source path}); an
     * optional disk whose source is missing is skipped ({@code null}).
     */
    private HostDirSftp sharedFolder(String name, Device d) {
        String source = d.get("source");
        if (d.get("pool") != null && !d.get("pool").isEmpty() || source == null || !source.startsWith("/")) {
            throw new NotSupportedException("The \"fake\" driver shares host directories only, not "
                    + ErrorTexts.quote(String.valueOf(source)) + " (device " + ErrorTexts.quote(name) + ")");
        }
        Path src = Path.of(source);
        if (!Files.exists(src)) {
            String req = d.get("required");
            boolean required = !((req != null && !req.isEmpty() && ConfigValues.isFalseOrEmpty(req))
                    || ConfigValues.isTrue(d.get("optional")));
            if (!required) {
                return null;
            }
            throw new InvalidArgumentException("Missing source path " + ErrorTexts.quote(source) + " for disk "
                    + ErrorTexts.quote(name));
        }
        if (!Files.isDirectory(src)) {
            throw new NotSupportedException("The \"fake\" driver shares host directories only, not the file "
                    + ErrorTexts.quote(source) + " (device " + ErrorTexts.quote(name) + ")");
        }
        try {
            return new HostDirSftp(src, ConfigValues.isTrue(d.get("readonly")));
        } catch (IOException e) {
            throw HostDirSftp.map(e, source);
        }
    }

    /** The shared folders of the running instance, by mount path (none when stopped: nothing is mounted). */
    private List<Map.Entry<String, HostDirSftp>> mounts() {
        if (instance.guest() == null) {
            return List.of();
        }
        List<Map.Entry<String, HostDirSftp>> out = new ArrayList<>();
        for (Map.Entry<String, Device> e : instance.startableDevices()) {
            Device d = e.getValue();
            if ("disk".equals(d.type()) && d.get("path") != null && !"/".equals(d.get("path"))) {
                HostDirSftp dir = sharedFolder(e.getKey(), d);
                if (dir != null) {
                    out.add(Map.entry(MountedSftp.normalize(d.get("path")), dir));
                }
            }
        }
        return out;
    }

    /** File access as the instance's processes see it: its tree with the shared folders mounted. */
    SftpClient files(String cwd, int uid, int gid) {
        MemSftp tree = new MemSftp(instance.fsView(), cwd, uid, gid);
        List<Map.Entry<String, HostDirSftp>> m = mounts();
        return m.isEmpty() ? tree : new MountedSftp(tree, m);
    }

    /** The NICs the instance was given, expanded and filled from their volatile keys, in name order. */
    List<Map.Entry<String, Device>> nics() {
        return instance.startableDevices().stream().filter(e -> "nic".equals(e.getValue().type())).toList();
    }
}
