#include "prober/mtu_search.h"

#include <catch2/catch.hpp>

using namespace dropspot;
using namespace dropspot::prober;

namespace {

/// What each attempt would come to on a path that passes `to_server` and
/// `to_client` bytes (0: that way passes nothing): a padded attempt is
/// acknowledged when its size fits the way to the server, and its answer
/// comes when it then fits the way back; an unpadded one needs the way back.
mtu_attempt run_on_path(mtu_attempt a, std::uint32_t to_server, std::uint32_t to_client) {
  a.acked_known = true;
  a.acked = !a.padded || a.size <= to_server;
  a.complete = a.acked && a.size <= to_client;
  return a;
}

/// The search's rounds against such a path, as search_path_mtu runs them
/// (the stalled probe, a padded attempt at the full size, counts from the start).
std::vector<mtu_attempt> search(std::uint32_t full, bool v6, std::uint32_t to_server, std::uint32_t to_client,
                                std::size_t* connections = nullptr) {
  std::vector<mtu_attempt> done;
  std::size_t made = 0;
  for (int round = 0; round < max_mtu_rounds; ++round) {
    auto next = next_mtu_attempts(full, v6, done);
    if (round == 0) done.push_back(run_on_path({full, true}, to_server, to_client));
    for (auto& a : next) done.push_back(run_on_path(a, to_server, to_client));
    made += next.size();
  }
  if (connections) *connections = made;
  return done;
}

}  // namespace

TEST_CASE("mtu search: round one asks little (a slow server may be all it is), round two the usual MTUs") {
  const auto first = next_mtu_attempts(1500, false, {});
  REQUIRE(first.size() == 3);
  CHECK(first[0].size == 1500);
  CHECK(first[1].size == 1280);
  CHECK(first[2].size == 576);  // IPv4's minimum
  for (const auto& a : first) CHECK(a.padded);
  const auto six = next_mtu_attempts(1500, true, {});
  REQUIRE(six.size() == 2);
  CHECK(six.back().size == 1280);  // IPv6's minimum: nothing below it
  // Everything stalls alike: three requests in all, then nothing more.
  std::vector<mtu_attempt> slow;
  for (auto a : first) slow.push_back(run_on_path(a, 0, 0));
  CHECK(next_mtu_attempts(1500, false, slow).empty());
  // Only the small sizes pass: the usual link MTUs come next.
  std::vector<mtu_attempt> hole;
  for (auto a : first) hole.push_back(run_on_path(a, 1400, 1400));
  const auto second = next_mtu_attempts(1500, false, hole);
  CHECK(second.size() >= 10);
  CHECK(std::any_of(second.begin(), second.end(), [](const mtu_attempt& a) { return a.size == 1400 && a.padded; }));
  // A path already at the minimum has nothing to search.
  CHECK(next_mtu_attempts(1280, true, {}).empty());
}

TEST_CASE("mtu search: both ways black-holed at a common MTU: exact after one round") {
  std::size_t connections = 0;
  const auto done = search(1500, false, 1400, 1400, &connections);
  const auto m = judge_mtu_search(1500, done);
  REQUIRE(m);
  CHECK(m->to_server() == 1400);
  CHECK(m->to_client() == 1400);
  REQUIRE(m->blackhole_size() == 2);
  CHECK(m->blackhole(0) == "toServer");
  CHECK(m->blackhole(1) == "toClient");
  CHECK(m->source() == "search");
  CHECK(m->full_size() == 1500);
  CHECK(connections <= 30);  // a diagnostic, not a load test
}

TEST_CASE("mtu search: one way only, and an uncommon MTU narrowed to within 20 bytes") {
  SECTION("the way back") {
    const auto m = judge_mtu_search(1500, search(1500, false, 1500, 1337));
    REQUIRE(m);
    REQUIRE(m->blackhole_size() == 1);
    CHECK(m->blackhole(0) == "toClient");
    CHECK(m->to_client() <= 1337);
    CHECK(m->to_client() + 20 >= 1337);
    CHECK(m->to_server() == 1500);
  }
  SECTION("the way to the server") {
    const auto m = judge_mtu_search(1500, search(1500, true, 1420, 1500));
    REQUIRE(m);
    REQUIRE(m->blackhole_size() == 1);
    CHECK(m->blackhole(0) == "toServer");
    CHECK(m->to_server() == 1420);
  }
}

TEST_CASE("mtu search: a size that stalled once because the server was slow is tried again") {
  // The path passes 1400 bytes each way; the first answers at 1400 and 1380
  // (one round's twenty TLS handshakes on a loaded machine) came too late.
  std::vector<mtu_attempt> done;
  std::vector<std::uint32_t> slow{1400, 1380};
  for (int round = 0; round < max_mtu_rounds; ++round) {
    auto next = next_mtu_attempts(1500, false, done);
    if (round == 0) done.push_back(run_on_path({1500, true}, 1400, 1400));
    for (auto& a : next) {
      auto r = run_on_path(a, 1400, 1400);
      if (const auto it = std::find(slow.begin(), slow.end(), a.size); it != slow.end()) {
        r.complete = false;
        slow.erase(it);
      }
      done.push_back(r);
    }
  }
  const auto m = judge_mtu_search(1500, done);
  REQUIRE(m);
  CHECK(m->to_server() == 1400);
  CHECK(m->to_client() == 1400);
  // The bound itself failed twice each way: a real loss repeats.
  const auto tries = [&](std::uint32_t size, bool padded) {
    return std::count_if(done.begin(), done.end(),
                         [&](const mtu_attempt& a) { return a.size == size && a.padded == padded; });
  };
  CHECK(tries(1420, true) == 2);
  CHECK(tries(1420, false) == 2);
}

TEST_CASE("mtu search: no black hole when the full size passes, or when nothing does") {
  // A moment's loss: the stalled probe failed, the search's full size passed.
  CHECK_FALSE(judge_mtu_search(1500, search(1500, false, 1500, 1500)));
  // A slow application: every size stalls alike.
  CHECK_FALSE(judge_mtu_search(1500, search(1500, false, 0, 0)));
  // Failed connections are no evidence either way.
  std::vector<mtu_attempt> failed{{1500, true}, {1280, true}};
  for (auto& a : failed) a.failed = true;
  CHECK_FALSE(judge_mtu_search(1500, failed));
}

TEST_CASE("mtu search: what each attempt tells") {
  mtu_attempt lost_request{1500, true};
  lost_request.acked_known = true;
  CHECK(mtu_tells(lost_request, mtu_way::to_server));
  CHECK_FALSE(mtu_passed(lost_request, mtu_way::to_server));
  CHECK_FALSE(mtu_tells(lost_request, mtu_way::to_client));  // the answer could not come: says nothing of the way back
  mtu_attempt unknown{1500, true};                           // an OS that does not tell what was acknowledged
  CHECK_FALSE(mtu_tells(unknown, mtu_way::to_server));
  mtu_attempt small{1500, false};
  CHECK(mtu_tells(small, mtu_way::to_client));
  CHECK_FALSE(mtu_tells(small, mtu_way::to_server));
  // The second round asks the sizes whose padded request was lost without padding.
  std::vector<mtu_attempt> done{run_on_path({1500, true}, 1400, 1500), run_on_path({1400, true}, 1400, 1500)};
  const auto next = next_mtu_attempts(1500, false, done);
  CHECK(std::any_of(next.begin(), next.end(), [](const mtu_attempt& a) { return a.size == 1500 && !a.padded; }));
  CHECK(mss_for_packet(1500, false) == 1460);
  CHECK(mss_for_packet(1500, true) == 1440);
}
