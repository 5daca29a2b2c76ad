#include "agent/limits.h"

#include <algorithm>

namespace dropspot::agent {

std::string source_key(const asio::ip::address& address) {
  if (address.is_v4()) return address.to_string();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes).to_string() + "/64";
}

const char* to_string(source_limits::verdict v) {
  switch (v) {
    case source_limits::verdict::accept: return "accepted";
    case source_limits::verdict::too_many: return "too many connections from this source";
    case source_limits::verdict::backing_off: return "too many failed authentications from this source";
  }
  return "unknown";
}

source_limits::source_limits(source_limits_config config) : config_(config) {}

bool source_limits::idle(const entry& e, clock::time_point now) const {
  return e.open == 0 && now >= e.blocked_until && (e.failures == 0 || now - e.last_failure >= config_.forget_after);
}

void source_limits::make_room(clock::time_point now) {
  std::erase_if(sources_, [&](const auto& kv) { return idle(kv.second, now); });
  if (sources_.size() < config_.max_sources) return;
  auto stalest = sources_.end();
  for (auto it = sources_.begin(); it != sources_.end(); ++it) {
    if (it->second.open != 0) continue;
    if (stalest == sources_.end() || it->second.last_failure < stalest->second.last_failure) stalest = it;
  }
  if (stalest != sources_.end()) sources_.erase(stalest);
}

source_limits::verdict source_limits::admit(const std::string& key, clock::time_point now) {
  auto it = sources_.find(key);
  if (it == sources_.end()) {
    if (sources_.size() >= config_.max_sources) make_room(now);
    it = sources_.emplace(key, entry{}).first;
  }
  entry& e = it->second;
  if (e.failures > 0 && now - e.last_failure >= config_.forget_after) e.failures = 0;
  if (e.open >= config_.max_connections) return verdict::too_many;
  ++e.open;
  return now < e.blocked_until ? verdict::backing_off : verdict::accept;
}

void source_limits::release(const std::string& key) {
  auto it = sources_.find(key);
  if (it == sources_.end() || it->second.open == 0) return;
  --it->second.open;
  if (it->second.open == 0 && it->second.failures == 0) sources_.erase(it);
}

void source_limits::auth_failed(const std::string& key, clock::time_point now) {
  if (!sources_.contains(key) && sources_.size() >= config_.max_sources) make_room(now);
  entry& e = sources_[key];
  if (e.failures > 0 && now - e.last_failure >= config_.forget_after) e.failures = 0;
  ++e.failures;
  e.last_failure = now;
  if (e.failures <= config_.free_failures) return;
  // 1st failure beyond the free ones: first_backoff; then doubling, capped.
  auto wait = config_.first_backoff;
  for (unsigned i = config_.free_failures + 1; i < e.failures && wait < config_.max_backoff; ++i) wait *= 2;
  wait = std::min(wait, config_.max_backoff);
  e.blocked_until = std::max(e.blocked_until, now + wait);
}

void source_limits::auth_succeeded(const std::string& key) {
  auto it = sources_.find(key);
  if (it == sources_.end()) return;
  it->second.failures = 0;
  it->second.blocked_until = {};
}

std::chrono::milliseconds source_limits::wait(const std::string& key, clock::time_point now) const {
  auto it = sources_.find(key);
  if (it == sources_.end() || now >= it->second.blocked_until) return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(it->second.blocked_until - now);
}

unsigned source_limits::failures(const std::string& key) const {
  auto it = sources_.find(key);
  return it == sources_.end() ? 0 : it->second.failures;
}

unsigned source_limits::open(const std::string& key) const {
  auto it = sources_.find(key);
  return it == sources_.end() ? 0 : it->second.open;
}

}  // namespace dropspot::agent
