/**
 * Runnable examples of the API, using nothing but what users see (no SPI, no internal package):
 * {@link io.github.incus4j.examples.Demo} tours one instance from launch to delete on any driver.
 */
package io.github.incus4j.examples;
