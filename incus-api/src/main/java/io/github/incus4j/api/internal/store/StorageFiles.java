package io.github.incus4j.api.internal.store;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.apiguardian.api.API;

/** File-system helpers shared by drivers' storage code. */
@API(status = INTERNAL)
public final class StorageFiles {
    private StorageFiles() {
    }

    /** Moves {@code from} to {@code to} (creating parents) if {@code from} exists. */
    public static void moveIfExists(Path from, Path to) {
        if (!Files.exists(from, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try {
            Files.createDirectories(to.getParent());
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new IncusException("Cannot move " + from + " to " + to, e);
        }
    }
}
