package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.Project;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * Read access to an instance's identity and configuration ({@code instance.ConfigReader}). Expanded config and
 * devices are the instance's profiles applied in order with its local config and devices on top.
 */
@API(status = EXPERIMENTAL)
public interface ConfigReader {
    /** The project the instance belongs to. */
    Project project();

    /** Container or virtual machine. */
    InstanceType type();

    /** The architecture id ({@link Architectures}). */
    int architecture();

    /** The driver's numeric id of the instance (stable for the life of the instance on one root). */
    int id();

    /** The instance name; snapshots are {@code parent/snap}. */
    String name();

    /** Profiles then local config, as the instance runs with it. */
    Map<String, String> expandedConfig();

    /** Profiles then local devices. */
    Devices expandedDevices();

    /** The instance's own config keys. */
    Map<String, String> localConfig();

    /** The instance's own devices. */
    Devices localDevices();
}
