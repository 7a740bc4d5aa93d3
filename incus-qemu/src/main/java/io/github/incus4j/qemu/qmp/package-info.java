/**
 * Internal: the QMP and guest-agent protocol clients (JSON lines over unix-domain sockets). Not exported.
 */
package io.github.incus4j.qemu.qmp;
