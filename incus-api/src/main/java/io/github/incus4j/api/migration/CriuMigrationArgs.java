package io.github.incus4j.api.migration;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.model.CriuFeature;
import java.nio.file.Path;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * Arguments of a CRIU checkpoint or restore ({@code instance.CriuMigrationArgs}). {@code cmd} is liblxc's migrate
 * command: {@link #MIGRATE_PRE_DUMP}, {@link #MIGRATE_DUMP}, {@link #MIGRATE_RESTORE}, {@link #MIGRATE_FEATURE_CHECK}.
 */
@API(status = EXPERIMENTAL)
public record CriuMigrationArgs(
        int cmd,
        Path stateDir,
        String function,
        boolean stop,
        boolean actionScript,
        Path dumpDir,
        Path preDumpDir,
        Set<CriuFeature> features,
        InstanceOperation op) {
    public static final int MIGRATE_PRE_DUMP = 0;
    public static final int MIGRATE_DUMP = 1;
    public static final int MIGRATE_RESTORE = 2;
    public static final int MIGRATE_FEATURE_CHECK = 3;

    public CriuMigrationArgs {
        features = features == null ? Set.of() : Set.copyOf(features);
    }
}
