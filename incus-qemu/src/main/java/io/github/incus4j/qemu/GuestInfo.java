package io.github.incus4j.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The guest's own view through the QEMU guest agent, in Incus's state shapes. */
final class GuestInfo {
    private GuestInfo() {
    }

    /** {@code guest-get-osinfo} as Incus's {@code os_info}. */
    static ApiInstanceState.OsInfo osInfo(GuestAgentClient agent) {
        JsonNode os = agent.osInfo();
        String host = "";
        try {
            host = agent.execute("guest-get-host-name").path("host-name").asText("");
        } catch (RuntimeException e) {
            host = "";
        }
        return new ApiInstanceState.OsInfo(os.path("name").asText(os.path("id").asText("")),
                os.path("version-id").asText(os.path("version").asText("")), os.path("kernel-release").asText(""),
                host, host);
    }

    /** {@code guest-network-get-interfaces} as Incus's {@code network} map (addresses and counters). */
    static Map<String, ApiInstanceState.Network> network(GuestAgentClient agent) {
        Map<String, ApiInstanceState.Network> out = new TreeMap<>();
        for (JsonNode nic : agent.networkInterfaces()) {
            String name = nic.path("name").asText();
            boolean lo = name.equals("lo");
            List<ApiInstanceState.NetworkAddress> addresses = new ArrayList<>();
            for (JsonNode a : nic.path("ip-addresses")) {
                boolean v4 = a.path("ip-address-type").asText().equals("ipv4");
                String ip = a.path("ip-address").asText();
                String scope = lo ? "local" : ip.startsWith("fe80") ? "link" : "global";
                addresses.add(new ApiInstanceState.NetworkAddress(v4 ? "inet" : "inet6", ip,
                        Integer.toString(a.path("prefix").asInt()), scope));
            }
            JsonNode s = nic.path("statistics");
            ApiInstanceState.NetworkCounters counters = new ApiInstanceState.NetworkCounters(
                    s.path("rx-bytes").asLong(), s.path("tx-bytes").asLong(), s.path("rx-packets").asLong(),
                    s.path("tx-packets").asLong(), s.path("rx-errs").asLong(), s.path("tx-errs").asLong(),
                    s.path("tx-dropped").asLong(), s.path("rx-dropped").asLong());
            out.put(name, new ApiInstanceState.Network(addresses, counters, nic.path("hardware-address").asText(""),
                    "", lo ? 65536 : 1500, "up", lo ? "loopback" : "broadcast"));
        }
        return out;
    }
}
