package io.github.incus4j.lxc.binding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import org.junit.jupiter.api.Test;

class FreezerTest {
    @Test
    void usesTheContainersOwnCgroupAboveANestedInit() {
        assertEquals("/lxc.payload.c1", Freezer.containerCgroup("/lxc.payload.c1/init.scope", "c1"));
        assertEquals("/a/lxc.payload.c1", Freezer.containerCgroup("/a/lxc.payload.c1/x/y", "c1"));
        assertEquals("/lxc.payload.c1", Freezer.containerCgroup("/lxc.payload.c1", "c1"));
        assertEquals("/lxc.payload.c10/x", Freezer.containerCgroup("/lxc.payload.c10/x", "c1"));
    }

    @Test
    void refusesMissingProcesses() {
        assertThrows(InvalidArgumentException.class, () -> Freezer.of(-1, "c1"));
        assertThrows(NotFoundException.class, () -> Freezer.of(Integer.MAX_VALUE, "c1"));
    }
}
