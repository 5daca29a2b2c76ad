#include "agent/host_services.h"

#include <algorithm>

#include "agent/capture.h"
#include "agent/host_check.h"
#include "agent/listeners.h"
#include "agent/services.h"
#include "agent/systemd.h"

namespace dropspot::agent {

session_services host_services(const asio::any_io_executor& executor, const options& opts) {
  session_services services;
  capture_config capture;
  capture.interfaces = opts.interfaces;
  capture.pcap_dir = opts.pcap_dir;
  services.start_capture = make_capture_starter(executor, capture);
  host_options host;
  host.root = opts.host_root;
  services.listeners = [host](const std::vector<std::uint16_t>& ports, const std::vector<std::uint16_t>& udp_ports) {
    auto found = ports.empty() ? std::vector<v1::Listener>{} : find_listeners(ports);
    if (!udp_ports.empty()) {
      listener_options udp;
      udp.udp = true;
      auto bound = find_listeners(udp_ports, udp);
      found.insert(found.end(), std::make_move_iterator(bound.begin()), std::make_move_iterator(bound.end()));
    }
    // systemd's own sockets (socket units): named after their unit.
    if (std::any_of(found.begin(), found.end(), [](const v1::Listener& l) { return l.unit() == "init.scope"; })) {
      systemd_manager manager(host.root, host.timeout);
      attribute_socket_activation(found, manager);
    }
    return found;
  };
  host.saved_rules = opts.saved_rules;
  services.host_facts = [host](const std::vector<asio::ip::address>& peers, const std::vector<std::uint16_t>& ports,
                               const std::vector<std::uint16_t>& udp_ports) {
    return host_port_facts(host, peers, ports, udp_ports);
  };
  return services;
}

}  // namespace dropspot::agent
