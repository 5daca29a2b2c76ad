#include <catch2/catch.hpp>

#include "common/framing.h"
#include "common/protocol.h"

using namespace dropspot;

namespace {

std::string framed(const std::string& payload) {
  std::string out;
  REQUIRE_FALSE(encode_frame(payload, out));
  return out;
}

std::string header(std::uint32_t n) {
  std::string h(4, '\0');
  h[0] = static_cast<char>(n >> 24);
  h[1] = static_cast<char>(n >> 16);
  h[2] = static_cast<char>(n >> 8);
  h[3] = static_cast<char>(n);
  return h;
}

}  // namespace

TEST_CASE("a frame is a big-endian length and the payload") {
  const std::string f = framed("abc");
  CHECK(f == std::string("\0\0\0\3abc", 7));
}

TEST_CASE("frames split at every byte boundary decode the same") {
  const std::string stream = framed("first message") + framed(std::string(300, 'x')) + framed("z");
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    frame_decoder d;
    std::vector<std::string> got;
    std::string payload;
    auto drain = [&] {
      while (d.next(payload) == frame_decoder::status::frame) got.push_back(payload);
    };
    d.feed(stream.data(), cut);
    drain();
    d.feed(stream.data() + cut, stream.size() - cut);
    drain();
    INFO("cut at " << cut);
    REQUIRE(got.size() == 3);
    CHECK(got[0] == "first message");
    CHECK(got[1] == std::string(300, 'x'));
    CHECK(got[2] == "z");
    CHECK(d.buffered() == 0);
  }
}

TEST_CASE("byte-by-byte feeding yields the frame only when complete") {
  const std::string f = framed("hello");
  frame_decoder d;
  std::string payload;
  for (std::size_t i = 0; i + 1 < f.size(); ++i) {
    d.feed(f.data() + i, 1);
    CHECK(d.next(payload) == frame_decoder::status::need_more);
  }
  d.feed(f.data() + f.size() - 1, 1);
  CHECK(d.next(payload) == frame_decoder::status::frame);
  CHECK(payload == "hello");
}

TEST_CASE("truncated frames wait, oversized and empty frames are errors") {
  frame_decoder truncated;
  std::string payload;
  truncated.feed(header(10) + "abc");
  CHECK(truncated.next(payload) == frame_decoder::status::need_more);

  frame_decoder oversized;
  oversized.feed(header(max_frame_size + 1));
  CHECK(oversized.next(payload) == frame_decoder::status::error);
  CHECK(oversized.error() == errc::frame_too_large);
  // Stays in error: the stream cannot be trusted after a bad header.
  oversized.feed(framed("ok"));
  CHECK(oversized.next(payload) == frame_decoder::status::error);

  frame_decoder absurd;
  absurd.feed(std::string("\xff\xff\xff\xff", 4));
  CHECK(absurd.next(payload) == frame_decoder::status::error);

  frame_decoder empty;
  empty.feed(header(0));
  CHECK(empty.next(payload) == frame_decoder::status::error);
  CHECK(empty.error() == errc::frame_empty);

  frame_decoder exact;
  exact.feed(header(max_frame_size) + std::string(max_frame_size, 'a'));
  CHECK(exact.next(payload) == frame_decoder::status::frame);
  CHECK(payload.size() == max_frame_size);
}

TEST_CASE("encoding refuses empty and oversized payloads") {
  std::string out;
  CHECK(encode_frame("", out) == errc::frame_empty);
  CHECK(encode_frame(std::string(max_frame_size + 1, 'a'), out) == errc::frame_too_large);
  CHECK(out.empty());
}

TEST_CASE("envelopes: garbage and empty messages are refused") {
  v1::Envelope e;
  CHECK_FALSE(parse_envelope("\xff\xff\xff", e));
  CHECK_FALSE(parse_envelope(std::string(), e));
  std::string serialized;
  make_hello("x").SerializeToString(&serialized);
  CHECK(parse_envelope(serialized, e));
  CHECK(e.has_hello());
  CHECK(body_name(e) == "hello");
}
