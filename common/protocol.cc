#include "common/protocol.h"

namespace dropspot {

bool parse_envelope(const std::string& payload, v1::Envelope& out) {
  out.Clear();
  if (!out.ParseFromString(payload)) return false;
  return out.body_case() != v1::Envelope::BODY_NOT_SET;
}

v1::Envelope make_hello(std::string_view software) {
  v1::Envelope e;
  auto* hello = e.mutable_hello();
  hello->set_protocol_version(protocol_version);
  hello->set_software(std::string(software) + " " + std::string(software_version));
  return e;
}

v1::Envelope make_error(v1::Error::Code code, std::string message) {
  v1::Envelope e;
  e.mutable_error()->set_code(code);
  e.mutable_error()->set_message(std::move(message));
  return e;
}

std::string body_name(const v1::Envelope& envelope) {
  if (envelope.body_case() == v1::Envelope::BODY_NOT_SET) return "nothing";
  const auto* field = v1::Envelope::descriptor()->FindFieldByNumber(envelope.body_case());
  return field ? field->name() : "unknown";
}

}  // namespace dropspot
