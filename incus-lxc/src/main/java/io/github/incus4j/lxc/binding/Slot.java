package io.github.incus4j.lxc.binding;

import io.github.incus4j.lxc.binding.ffi.NativeApi.BoolFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.BoolIntFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.BoolStrFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.BoolStrIntFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.BoolStrStrFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.GetItemFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.IntFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.IntPtrFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.LibC;
import io.github.incus4j.lxc.binding.ffi.NativeApi.PtrStrFn;
import io.github.incus4j.lxc.binding.ffi.NativeApi.StringFn;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One function-pointer member of {@code struct lxc_container}: its offset (x86-64 / LP64 layout, identical from 4.0.5
 * through 6.0.x), the API extension that announces it when it came late, and how to turn its address into a typed
 * delegate (a {@code memset*} variant of {@link LibC}).
 *
 * @param <T> the delegate interface of the slot's C signature
 */
final class Slot<T> {
    /** A {@code memset*} method of libc that turns a function address into a delegate. */
    interface Binder<T> {
        T bind(LibC libc, long function);
    }

    private static final List<Slot<?>> ALL = new ArrayList<>();

    static final Slot<BoolFn> IS_DEFINED = new Slot<>("is_defined", 80, null, BoolFn.class, Slot::bool);
    static final Slot<StringFn> STATE = new Slot<>("state", 88, null, StringFn.class, (l, f) -> l.memsetString(f, 0, 0));
    static final Slot<BoolFn> IS_RUNNING = new Slot<>("is_running", 96, null, BoolFn.class, Slot::bool);
    static final Slot<BoolFn> FREEZE = new Slot<>("freeze", 104, null, BoolFn.class, Slot::bool);
    static final Slot<BoolFn> UNFREEZE = new Slot<>("unfreeze", 112, null, BoolFn.class, Slot::bool);
    static final Slot<IntFn> INIT_PID = new Slot<>("init_pid", 120, null, IntFn.class, (l, f) -> l.memsetInt(f, 0, 0));
    static final Slot<BoolFn> STOP = new Slot<>("stop", 152, null, BoolFn.class, Slot::bool);
    static final Slot<BoolStrIntFn> WAIT =
            new Slot<>("wait", 184, null, BoolStrIntFn.class, (l, f) -> l.memsetBoolStrInt(f, 0, 0));
    static final Slot<BoolStrStrFn> SET_CONFIG_ITEM = new Slot<>("set_config_item", 192, null, BoolStrStrFn.class,
            (l, f) -> l.memsetBoolStrStr(f, 0, 0));
    static final Slot<BoolFn> DESTROY = new Slot<>("destroy", 200, null, BoolFn.class, Slot::bool);
    static final Slot<BoolStrFn> SAVE_CONFIG =
            new Slot<>("save_config", 208, null, BoolStrFn.class, (l, f) -> l.memsetBoolStr(f, 0, 0));
    static final Slot<BoolIntFn> SHUTDOWN =
            new Slot<>("shutdown", 248, null, BoolIntFn.class, (l, f) -> l.memsetBoolInt(f, 0, 0));
    static final Slot<GetItemFn> GET_CONFIG_ITEM =
            new Slot<>("get_config_item", 272, null, GetItemFn.class, (l, f) -> l.memsetGetItem(f, 0, 0));
    static final Slot<PtrStrFn> GET_RUNNING_CONFIG_ITEM = new Slot<>("get_running_config_item", 280, null,
            PtrStrFn.class, (l, f) -> l.memsetPtrStr(f, 0, 0));
    static final Slot<GetItemFn> GET_CGROUP_ITEM =
            new Slot<>("get_cgroup_item", 312, null, GetItemFn.class, (l, f) -> l.memsetGetItem(f, 0, 0));
    static final Slot<BoolStrStrFn> SET_CGROUP_ITEM = new Slot<>("set_cgroup_item", 320, null, BoolStrStrFn.class,
            (l, f) -> l.memsetBoolStrStr(f, 0, 0));
    static final Slot<IntPtrFn> CONSOLE_LOG =
            new Slot<>("console_log", 504, "console_log", IntPtrFn.class, (l, f) -> l.memsetIntPtr(f, 0, 0));
    /** After console_log: reboot2, mount, umount, seccomp_notify_fd, seccomp_notify_fd_active. */
    static final Slot<IntFn> INIT_PIDFD =
            new Slot<>("init_pidfd", 552, "pidfd", IntFn.class, (l, f) -> l.memsetInt(f, 0, 0));
    static final Slot<IntFn> DEVPTS_FD =
            new Slot<>("devpts_fd", 560, "devpts_fd", IntFn.class, (l, f) -> l.memsetInt(f, 0, 0));

    /** Every slot, indexed by {@link #index()}. */
    static final List<Slot<?>> VALUES = Collections.unmodifiableList(ALL);

    private final String name;
    private final int offset;
    private final String extension;
    private final Class<T> type;
    private final Binder<T> binder;
    private final int index;

    private Slot(String name, int offset, String extension, Class<T> type, Binder<T> binder) {
        this.name = name;
        this.offset = offset;
        this.extension = extension;
        this.type = type;
        this.binder = binder;
        this.index = ALL.size();
        ALL.add(this);
    }

    private static BoolFn bool(LibC libc, long function) {
        return libc.memsetBool(function, 0, 0);
    }

    String name() {
        return name;
    }

    int offset() {
        return offset;
    }

    /** The {@code lxc_has_api_extension} name that must be present, or null for members older than 4.0.5. */
    String extension() {
        return extension;
    }

    Class<T> type() {
        return type;
    }

    Binder<T> binder() {
        return binder;
    }

    int index() {
        return index;
    }

    @Override
    public String toString() {
        return name;
    }
}
