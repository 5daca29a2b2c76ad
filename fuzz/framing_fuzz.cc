// Frame decoding: the bytes an unauthenticated peer sends the agent, fed to
// the decoder whole and split at input-chosen points; both must yield the
// same frames and end the same way. Each frame is parsed as an Envelope and
// re-encoded.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/framing.h"
#include "common/protocol.h"

using namespace dropspot;

namespace {

struct decoded {
  std::vector<std::string> frames;
  frame_decoder::status end = frame_decoder::status::need_more;
  std::error_code error;
};

void drain(frame_decoder& d, decoded& out) {
  std::string payload;
  for (;;) {
    const auto s = d.next(payload);
    if (s != frame_decoder::status::frame) {
      out.end = s;
      out.error = d.error();
      return;
    }
    out.frames.push_back(payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte chooses the chunk size of the second decoding (1..256).
  const std::size_t chunk = std::size_t{data[0]} + 1;
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);

  decoded whole;
  frame_decoder a;
  a.feed(bytes);
  drain(a, whole);

  decoded split;
  frame_decoder b;
  for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
    b.feed(bytes.subspan(pos, std::min(chunk, bytes.size() - pos)));
    drain(b, split);
    if (split.end == frame_decoder::status::error) break;
  }
  if (bytes.empty()) drain(b, split);

  if (whole.frames != split.frames || whole.end != split.end || whole.error != split.error) std::abort();
  if (whole.end == frame_decoder::status::need_more && a.buffered() >= frame_header_size + max_frame_size)
    std::abort();  // a complete frame was left in the buffer

  v1::Envelope envelope;
  for (const auto& payload : whole.frames) {
    if (payload.empty() || payload.size() > max_frame_size) std::abort();
    std::string frame;
    if (encode_frame(payload, frame) || frame.size() != payload.size() + frame_header_size) std::abort();
    frame_decoder again;
    again.feed(frame);
    std::string back;
    if (again.next(back) != frame_decoder::status::frame || back != payload) std::abort();
    if (parse_envelope(payload, envelope)) (void)body_name(envelope);
  }
  return 0;
}
