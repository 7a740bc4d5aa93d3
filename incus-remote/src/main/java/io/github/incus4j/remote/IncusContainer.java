package io.github.incus4j.remote;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.InstanceType;

/** A container on the server: the container methods live in {@link IncusInstance}. */
final class IncusContainer extends IncusInstance implements Container {
    IncusContainer(IncusInstances session, String project, String name) {
        super(session, project, name, InstanceType.CONTAINER);
    }
}
