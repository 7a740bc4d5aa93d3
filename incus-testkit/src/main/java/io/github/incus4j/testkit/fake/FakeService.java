package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import org.apiguardian.api.API;

/**
 * A server "inside" a fake instance, registered with {@link FakeInstance#listen(int, FakeService)} for a TCP port of
 * the instance: a {@code proxy} device whose {@code connect} names that port hands it each connection its host
 * listener accepts. It runs on a driver thread, one call per connection; the connection closes when it returns.
 */
@API(status = EXPERIMENTAL)
@FunctionalInterface
public interface FakeService {
    /**
     * Serves one connection: {@code in} is what the peer sends, {@code out} goes back to it.
     *
     * @throws IOException when the connection breaks; logged, the connection is closed
     */
    void serve(InputStream in, OutputStream out) throws IOException;

    /**
     * A minimal HTTP/1.0 server answering every request with {@code 200 OK} and {@code body} as
     * {@code text/plain}, what the contract's proxy test fetches (a busybox {@code httpd} in a real instance).
     */
    static FakeService http(String body) {
        return (in, out) -> {
            java.io.BufferedReader r = new java.io.BufferedReader(
                    new java.io.InputStreamReader(in, java.nio.charset.StandardCharsets.ISO_8859_1));
            String line;
            while ((line = r.readLine()) != null && !line.isEmpty()) {
                // Request line and headers: the answer is the same whatever was asked.
            }
            byte[] b = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            out.write(("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + b.length
                    + "\r\nConnection: close\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            out.write(b);
            out.flush();
        };
    }
}
