#include "agent/host_services.h"

#include "agent/capture.h"
#include "agent/host_check.h"
#include "agent/listeners.h"

namespace dropspot::agent {

session_services host_services(const asio::any_io_executor& executor, const options& opts) {
  session_services services;
  capture_config capture;
  capture.interfaces = opts.interfaces;
  capture.pcap_dir = opts.pcap_dir;
  services.start_capture = make_capture_starter(executor, capture);
  services.listeners = [](const std::vector<std::uint16_t>& ports) { return find_listeners(ports); };
  host_options host;
  host.root = opts.host_root;
  host.saved_rules = opts.saved_rules;
  services.host_facts = [host](const asio::ip::address& peer, const std::vector<std::uint16_t>& ports) {
    return host_port_facts(host, peer, ports);
  };
  return services;
}

}  // namespace dropspot::agent
