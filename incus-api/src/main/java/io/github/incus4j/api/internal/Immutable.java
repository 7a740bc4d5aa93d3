package io.github.incus4j.api.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/** Defensive copies for records: sorted maps so that rendering and ETags are deterministic. Not exported. */
@API(status = INTERNAL)
public final class Immutable {
    private Immutable() {
    }

    /** An unmodifiable copy sorted by key; {@code null} becomes empty. Null keys or values are refused. */
    public static <V> Map<String, V> sortedMap(Map<String, ? extends V> map) {
        if (map == null || map.isEmpty()) {
            return Collections.emptyMap();
        }
        if (map instanceof UnmodifiableSorted) {
            @SuppressWarnings("unchecked")
            Map<String, V> same = (Map<String, V>) map;
            return same;
        }
        TreeMap<String, V> copy = new TreeMap<>();
        map.forEach((k, v) -> {
            if (k == null || v == null) {
                throw new NullPointerException("null key or value in map: " + k + "=" + v);
            }
            copy.put(k, v);
        });
        return new UnmodifiableSorted<>(copy);
    }

    /** An unmodifiable copy; {@code null} becomes empty. */
    public static <T> List<T> list(List<? extends T> list) {
        return list == null ? List.of() : List.copyOf(list);
    }

    /** Marks maps already copied, so that records passing maps to one another do not copy them again. */
    private static final class UnmodifiableSorted<V> extends java.util.AbstractMap<String, V> {
        private final Map<String, V> delegate;

        UnmodifiableSorted(TreeMap<String, V> delegate) {
            this.delegate = Collections.unmodifiableSortedMap(delegate);
        }

        @Override
        public java.util.Set<Entry<String, V>> entrySet() {
            return delegate.entrySet();
        }

        @Override
        public V get(Object key) {
            return delegate.get(key);
        }

        @Override
        public boolean containsKey(Object key) {
            return delegate.containsKey(key);
        }

        @Override
        public int size() {
            return delegate.size();
        }
    }
}
