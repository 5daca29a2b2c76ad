#include "agent/capture.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "agent/bpf_filter.h"
#include "agent/log.h"
#include "agent/packet.h"
#include "common/duration.h"

namespace dropspot::agent {

namespace {

constexpr const char* any_device = "any";
/// Frames read per pcap_dispatch call.
constexpr int dispatch_batch = 256;
/// Interface indexes remembered for cooked v2 frames.
constexpr std::size_t max_cached_interfaces = 64;
/// The capture ring of a session: this much per port, at least min_buffer_bytes
/// (the whole ring counts in the agent's memory from the start: the kernel
/// maps it at once). 128 KiB holds some 300 frames of the 256-byte snaplen,
/// more than a runbook matrix's whole session brings, and the ring is read
/// every millisecond while frames come (live_source). Was 8 KiB a port, at
/// least 256 KiB: 50 matrix sessions at once held 9 MiB of rings, 6 now.
constexpr std::size_t buffer_bytes_per_port = 4 * 1024;
constexpr std::size_t min_buffer_bytes = 128 * 1024;

ip_address to_ip_address(const asio::ip::address& a);

std::vector<ip_address> to_ip_addresses(const std::vector<asio::ip::address>& all) {
  std::vector<ip_address> out;
  out.reserve(all.size());
  for (const auto& a : all) out.push_back(to_ip_address(a));
  return out;
}

ip_address to_ip_address(const asio::ip::address& a) {
  if (a.is_v4()) return ip_address::v4(a.to_v4().to_bytes().data());
  return ip_address::v6(a.to_v6().to_bytes().data()).unmapped();
}

std::uint64_t to_unix_us(const timeval& tv) {
  return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(tv.tv_usec);
}

bool parsable_link_type(int dlt) {
  switch (dlt) {
    case DLT_NULL:
    case DLT_EN10MB:
    case DLT_RAW:
    case DLT_LOOP:
    case DLT_LINUX_SLL:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_LINUX_SLL2: return true;
    default: return false;
  }
}

static_assert(dlt::null == DLT_NULL && dlt::en10mb == DLT_EN10MB && dlt::raw == DLT_RAW && dlt::loop == DLT_LOOP &&
              dlt::linux_sll == DLT_LINUX_SLL && dlt::ipv4 == DLT_IPV4 && dlt::ipv6 == DLT_IPV6 &&
              dlt::linux_sll2 == DLT_LINUX_SLL2);

/// Interfaces that are up, by name (what the "any" device covers).
std::vector<std::string> interfaces_up() {
  std::vector<std::string> names;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return names;
  for (auto* i = list; i; i = i->ifa_next) {
    if (!i->ifa_name || !(i->ifa_flags & IFF_UP)) continue;
    if (std::find(names.begin(), names.end(), i->ifa_name) == names.end()) names.emplace_back(i->ifa_name);
  }
  ::freeifaddrs(list);
  return names;
}

/// Interface names of cooked v2 frames, looked up once per index.
class interface_names {
 public:
  std::string_view name(std::uint32_t index) {
    if (index == 0) return {};
    for (const auto& e : entries_)
      if (e.index == index) return e.name;
    char buf[IF_NAMESIZE] = {};
    if (!::if_indextoname(index, buf)) return {};
    if (entries_.size() == max_cached_interfaces) entries_.erase(entries_.begin());
    entries_.push_back({index, buf});
    return entries_.back().name;
  }

 private:
  struct entry {
    std::uint32_t index;
    std::string name;
  };
  std::vector<entry> entries_;
};

/// Turns frames into the session's events: parse, classify, hand to the
/// sink. Shared by every source of a session, live or file.
class frame_processor {
 public:
  frame_processor(const capture_request& request, packet_sink sink)
      : session_(session_perspective::make(to_ip_address(request.peer), request.ports, request.udp_ports,
                                           to_ip_addresses(request.also))),
        sink_(std::move(sink)) {}

  /// One frame from a source; `interface` names it unless the frame carries
  /// an interface index (cooked v2) and `resolve_index` is set.
  void on_frame(int link_type, const pcap_pkthdr& header, const u_char* bytes, std::string_view interface,
                bool resolve_index, pcap_dumper_t* dumper) {
    ++counts_.frames;
    const std::span<const std::uint8_t> frame(bytes, header.caplen);
    if (parse_packet(link_type, frame, packet_) != packet_error::none) {
      ++counts_.unparsed;
      return;
    }
    if (resolve_index && packet_.if_index != 0) interface = names_.name(packet_.if_index);
    if (!to_packet_event(packet_, session_, to_unix_us(header.ts), interface, event_)) return;
    ++counts_.events;
    if (dumper) {
      pcap_pkthdr cut = header;
      cut.caplen = static_cast<bpf_u_int32>(std::min<std::size_t>(header.caplen, packet_.header_length));
      ::pcap_dump(reinterpret_cast<u_char*>(dumper), &cut, bytes);
    }
    if (!sink_) return;
    try {
      sink_(event_);
    } catch (const std::exception& e) {  // never unwind through libpcap's C frames
      log_line(std::string("capture: the session's sink failed: ") + e.what());
    }
  }

  const capture_counts& counts() const { return counts_; }

 private:
  session_perspective session_;
  packet_sink sink_;
  parsed_packet packet_;
  v1::PacketEvent event_;  ///< reused, so its strings keep their capacity
  interface_names names_;
  capture_counts counts_;
};

/// What pcap_dispatch's callback needs.
struct dispatch_context {
  frame_processor* processor;
  int link_type;
  std::string_view interface;
  bool resolve_index;
  pcap_dumper_t* dumper;
};

void on_pcap_frame(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  auto& c = *reinterpret_cast<dispatch_context*>(user);
  c.processor->on_frame(c.link_type, *header, bytes, c.interface, c.resolve_index, c.dumper);
}

/// Compiles and installs the filter; false and `note` on failure.
bool install_filter(pcap_t* pcap, const std::string& filter, const std::string& where, std::string& note) {
  bpf_program program{};
  if (::pcap_compile(pcap, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    note = "capture filter does not compile for " + where + ": " + ::pcap_geterr(pcap);
    return false;
  }
  const int rc = ::pcap_setfilter(pcap, &program);
  ::pcap_freecode(&program);
  if (rc != 0) {
    note = "capture filter rejected on " + where + ": " + ::pcap_geterr(pcap);
    return false;
  }
  return true;
}

std::string activation_note(const std::string& device, int rc, pcap_t* pcap) {
  const std::string detail = ::pcap_geterr(pcap);
  const std::string with_detail = detail.empty() ? "" : " (" + detail + ")";
  switch (rc) {
    case PCAP_ERROR_PERM_DENIED:
      return "capture needs CAP_NET_RAW: run the agent as root or with the capability "
             "(setcap cap_net_raw+ep)" +
             with_detail;
    case PCAP_ERROR_NO_SUCH_DEVICE: return "capture: no interface named " + device + with_detail;
    case PCAP_ERROR_IFACE_NOT_UP: return "capture: interface " + device + " is down";
    default: return "capture on " + device + " failed: " + ::pcap_statustostr(rc) + with_detail;
  }
}

/// A file for the session's packets, created 0600 and never over an
/// existing file; nullptr (and a log line) when it cannot be made.
pcap_dumper_t* open_dump(pcap_t* pcap, const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    log_line("capture: cannot create " + path + ": " + std::strerror(errno));
    return nullptr;
  }
  FILE* file = ::fdopen(fd, "wb");
  if (!file) {
    ::close(fd);
    log_line("capture: cannot open " + path + ": " + std::strerror(errno));
    return nullptr;
  }
  pcap_dumper_t* dumper = ::pcap_dump_fopen(pcap, file);
  if (!dumper) {
    log_line("capture: cannot write " + path + ": " + ::pcap_geterr(pcap));
    std::fclose(file);
  }
  return dumper;
}

/// While frames keep coming, the ring is read again this long after the last
/// read instead of on its descriptor's readiness (live_source).
constexpr auto busy_read_interval = std::chrono::milliseconds(1);

/// One opened interface. Idle, its descriptor waits for readability in
/// Asio's reactor; once a frame comes, the descriptor leaves the reactor's
/// epoll set and the ring is read every busy_read_interval until a read
/// finds it empty. In the set, every frame the kernel adds wakes this thread
/// (libpcap's immediate mode: TPACKET_V2, no batching), and it is the
/// sender's CPU that pays for the wake-up: on a 2-CPU machine the prober's
/// 3000-port sweep spent 8 % of its time waking the agent. Out of the set a
/// frame wakes no one. The ring is the same either way: a barrier's drain()
/// reads it at once (agent/session.cc), so nothing waits for the interval.
class live_source : public std::enable_shared_from_this<live_source> {
 public:
  live_source(const asio::any_io_executor& executor, pcap_t* pcap, std::string device,
              std::shared_ptr<frame_processor> processor)
      : pcap_(pcap),
        link_type_(::pcap_datalink(pcap)),
        device_(std::move(device)),
        processor_(std::move(processor)),
        descriptor_(executor),
        next_read_(executor) {}

  live_source(const live_source&) = delete;
  live_source& operator=(const live_source&) = delete;
  ~live_source() { stop(); }

  /// Attaches the pcap descriptor to asio and starts waiting; false and `note` on failure.
  bool start(std::string& note) {
    const int fd = ::pcap_get_selectable_fd(pcap_);
    if (fd < 0) {
      note = "capture on " + device_ + ": no selectable descriptor";
      return false;
    }
    fd_ = fd;
    if (auto ec = wait()) {
      note = "capture on " + device_ + ": " + ec.message();
      return false;
    }
    return true;
  }

  /// Stops reading, closes the file and the pcap handle. Idempotent.
  void stop() {
    if (!pcap_) return;
    update_stats();
    std::error_code ignored;
    descriptor_.cancel(ignored);
    if (descriptor_.is_open()) descriptor_.release();  // libpcap owns the descriptor
    // (A pending next read finds pcap_ gone: at most a millisecond away.)
    if (dumper_) ::pcap_dump_close(dumper_);
    dumper_ = nullptr;
    ::pcap_close(pcap_);
    pcap_ = nullptr;
  }

  void set_dump(pcap_dumper_t* dumper, std::string path) {
    dumper_ = dumper;
    dump_path_ = std::move(path);
  }
  const std::string& dump_path() const { return dump_path_; }
  const std::string& device() const { return device_; }

  /// Reads every frame waiting in the kernel's ring now (non-blocking).
  void drain() { (void)read_all(); }

  /// Frames the kernel dropped (pcap_stats), as of now or of the stop.
  std::uint64_t dropped() {
    update_stats();
    return dropped_;
  }

 private:
  /// Frames read from the ring until it is empty; -1 (logged) when libpcap fails.
  int read_all() {
    if (!pcap_) return 0;
    dispatch_context context{processor_.get(), link_type_, device_ == any_device ? std::string_view{} : device_,
                             device_ == any_device, dumper_};
    int total = 0;
    for (;;) {
      const int n = ::pcap_dispatch(pcap_, dispatch_batch, on_pcap_frame, reinterpret_cast<u_char*>(&context));
      if (n < 0) {
        log_line("capture on " + device_ + " stopped: " + ::pcap_geterr(pcap_));
        return -1;
      }
      if (n == 0) return total;
      total += n;
    }
  }

  /// Idle: the descriptor in the reactor's set, waiting for a frame (one
  /// already in the ring makes it ready at once).
  std::error_code wait() {
    std::error_code ec;
    descriptor_.assign(fd_, ec);
    if (ec) return ec;
    descriptor_.async_wait(asio::posix::descriptor_base::wait_read,
                           [self = shared_from_this()](std::error_code e) { self->on_readable(e); });
    return ec;
  }

  void on_readable(std::error_code ec) {
    if (!pcap_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      log_line("capture on " + device_ + " stopped: " + ec.message());
      return;
    }
    descriptor_.release();  // out of the set while frames come
    read_soon();
  }

  /// Busy: reads the ring, then again after busy_read_interval while reads
  /// find frames; back to wait() once one finds none.
  void read_soon() {
    const int n = read_all();
    if (n < 0) return;
    if (n == 0) {
      if (auto ec = wait()) log_line("capture on " + device_ + " stopped: " + ec.message());
      return;
    }
    next_read_.expires_after(busy_read_interval);
    next_read_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec && self->pcap_) self->read_soon();
    });
  }

  void update_stats() {
    pcap_stat stats{};
    if (pcap_ && ::pcap_stats(pcap_, &stats) == 0) dropped_ = std::uint64_t{stats.ps_drop} + stats.ps_ifdrop;
  }

  pcap_t* pcap_;
  int link_type_;
  std::string device_;
  std::shared_ptr<frame_processor> processor_;
  asio::posix::stream_descriptor descriptor_;
  asio::steady_timer next_read_;
  int fd_ = -1;
  pcap_dumper_t* dumper_ = nullptr;
  std::string dump_path_;
  std::uint64_t dropped_ = 0;
};

/// Opens and activates one device with the session's filter; nullptr and
/// `note` on failure.
pcap_t* open_device(const std::string& device, const capture_config& config, const std::string& filter,
                    std::string& note) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap = ::pcap_create(device.c_str(), errbuf);
  if (!pcap) {
    note = "capture on " + device + " failed: " + errbuf;
    return nullptr;
  }
  ::pcap_set_snaplen(pcap, config.snaplen);
  ::pcap_set_promisc(pcap, 0);  // only this host's traffic
  ::pcap_set_immediate_mode(pcap, 1);
  ::pcap_set_buffer_size(pcap, config.buffer_bytes);
  const int rc = ::pcap_activate(pcap);
  if (rc < 0) {
    note = activation_note(device, rc, pcap);
    ::pcap_close(pcap);
    return nullptr;
  }
  if (device == any_device) ::pcap_set_datalink(pcap, DLT_LINUX_SLL2);  // else stays cooked v1: no interface names
  const int link_type = ::pcap_datalink(pcap);
  if (!parsable_link_type(link_type)) {
    const char* name = ::pcap_datalink_val_to_name(link_type);
    note = "capture on " + device + ": link type " + (name ? name : std::to_string(link_type)) +
           " is not one dropspot reads (Ethernet, cooked, raw IP, loopback)";
    ::pcap_close(pcap);
    return nullptr;
  }
  if (!install_filter(pcap, filter, device, note) || ::pcap_setnonblock(pcap, 1, errbuf) != 0) {
    if (note.empty()) note = "capture on " + device + " failed: " + errbuf;
    ::pcap_close(pcap);
    return nullptr;
  }
  return pcap;
}

std::string file_safe(std::string s) {
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
  return s;
}

class live_capture final : public capture_handle {
 public:
  live_capture(std::shared_ptr<frame_processor> processor, std::vector<std::shared_ptr<live_source>> sources,
               std::vector<std::string> interfaces)
      : processor_(std::move(processor)), sources_(std::move(sources)), interfaces_(std::move(interfaces)) {}

  ~live_capture() override {
    for (auto& s : sources_) s->stop();
  }

  std::vector<std::string> interfaces() const override { return interfaces_; }
  void drain() override {
    for (auto& s : sources_) s->drain();
  }
  std::uint64_t packets_seen() const override { return processor_->counts().frames; }
  std::uint64_t packets_dropped() const override {
    std::uint64_t n = 0;
    for (const auto& s : sources_) n += s->dropped();
    return n;
  }
  std::string pcap_file() const override {
    std::string files;
    for (const auto& s : sources_) {
      if (s->dump_path().empty()) continue;
      if (!files.empty()) files += ",";
      files += s->dump_path();
    }
    return files;
  }

 private:
  std::shared_ptr<frame_processor> processor_;
  std::vector<std::shared_ptr<live_source>> sources_;
  std::vector<std::string> interfaces_;
};

}  // namespace

std::unique_ptr<capture_handle> start_capture(const asio::any_io_executor& executor, const capture_config& config,
                                              const capture_request& request, packet_sink sink, std::string& note) {
  if (request.ports.empty() && request.udp_ports.empty()) {
    note = "capture: no ports to capture";
    return nullptr;
  }
  auto processor = std::make_shared<frame_processor>(request, std::move(sink));
  const std::string filter = make_bpf_filter(request.addresses(), request.ports, request.udp_ports);
  const std::vector<std::string> devices =
      config.interfaces.empty() ? std::vector<std::string>{any_device} : config.interfaces;
  const std::string stamp = std::to_string(now_unix_us());
  std::vector<std::shared_ptr<live_source>> sources;
  // A pending wait holds its source: stop every source explicitly on failure.
  const auto fail = [&sources]() -> std::unique_ptr<capture_handle> {
    for (auto& s : sources) s->stop();
    return nullptr;
  };
  // The kernel's ring stays mapped into the agent for the whole session:
  // sized by what the session can bring (a few dozen frames a port), so many
  // small sessions stay small; config.buffer_bytes is the most.
  capture_config sized = config;
  sized.buffer_bytes = static_cast<int>(std::min<std::size_t>(
      static_cast<std::size_t>(std::max(config.buffer_bytes, 0)),
      std::max<std::size_t>(min_buffer_bytes,
                            (request.ports.size() + request.udp_ports.size()) * buffer_bytes_per_port)));
  for (const auto& device : devices) {
    pcap_t* pcap = open_device(device, sized, filter, note);
    if (!pcap) return fail();
    auto source = std::make_shared<live_source>(executor, pcap, device, processor);
    if (!config.pcap_dir.empty()) {
      std::string path =
          config.pcap_dir + "/dropspot-" + stamp + "-" + file_safe(to_ip_address(request.peer).to_string());
      if (devices.size() > 1) path += "-" + file_safe(device);
      path += ".pcap";
      if (auto* dumper = open_dump(pcap, path)) source->set_dump(dumper, path);
    }
    sources.push_back(source);
    if (!source->start(note)) return fail();
  }
  std::vector<std::string> names = config.interfaces;
  if (names.empty()) {
    names = interfaces_up();
    if (names.empty()) names = {any_device};
  }
  return std::make_unique<live_capture>(std::move(processor), std::move(sources), std::move(names));
}

start_capture_function make_capture_starter(asio::any_io_executor executor, capture_config config) {
  return [executor = std::move(executor), config = std::move(config)](const capture_request& request, packet_sink sink,
                                                                      std::string& note) {
    return start_capture(executor, config, request, std::move(sink), note);
  };
}

std::optional<capture_counts> read_capture_file(const std::string& path, const capture_request& request,
                                                const packet_sink& sink, std::string& note) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap = ::pcap_open_offline(path.c_str(), errbuf);
  if (!pcap) {
    note = "cannot read " + path + ": " + errbuf;
    return std::nullopt;
  }
  frame_processor processor(request, sink);
  const int link_type = ::pcap_datalink(pcap);
  if (!install_filter(pcap, make_bpf_filter(request.addresses(), request.ports, request.udp_ports), path, note)) {
    ::pcap_close(pcap);
    return std::nullopt;
  }
  dispatch_context context{&processor, link_type, {}, false, nullptr};
  const int rc = ::pcap_loop(pcap, -1, on_pcap_frame, reinterpret_cast<u_char*>(&context));
  if (rc == PCAP_ERROR) {
    note = "reading " + path + " failed: " + ::pcap_geterr(pcap);
    ::pcap_close(pcap);
    return std::nullopt;
  }
  ::pcap_close(pcap);
  return processor.counts();
}

}  // namespace dropspot::agent
