// tw::OpenStore and tw::Subscribe: the URL front door of include/tw/client.h.
#include "client/remote_store.h"
#include "net/messages.h"

namespace tw {

Result<std::unique_ptr<Store>> OpenStore(std::string_view url, const ClientOptions& options) {
  if (url == "embedded:" || url == "embedded://") {
    TW_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedStore> store, EmbeddedStore::Open(options.embedded));
    return std::unique_ptr<Store>(std::move(store));
  }
  TW_ASSIGN_OR_RETURN(client::Endpoint ep, client::ParseEndpoint(url));
  TW_ASSIGN_OR_RETURN(std::unique_ptr<client::RemoteStore> store, client::RemoteStore::Open(ep, options));
  return std::unique_ptr<Store>(std::move(store));
}

namespace {

class EventStreamImpl final : public EventStream {
 public:
  EventStreamImpl(std::unique_ptr<client::Connection> io, uint64_t request_id) : io_(std::move(io)), request_id_(request_id) {}

  Result<StoreEvent> Next(uint64_t timeout_ms) override {
    if (io_->broken()) return Status::Unavailable("the event stream is closed");
    TW_RETURN_IF_ERROR(io_->WaitReadable(timeout_ms));
    net::FrameHeader h;
    std::string meta;
    TW_RETURN_IF_ERROR(io_->Receive(net::Op::kEvent, request_id_, &h, &meta));
    Result<net::Event> e = net::Event::Decode(meta);
    if (!e.ok()) return e.status();
    StoreEvent out;
    out.kind = static_cast<StoreEvent::Kind>(e->kind);
    out.ns = e->ns;
    out.key = e->key;
    out.tier = e->tier;
    return out;
  }

 private:
  std::unique_ptr<client::Connection> io_;
  uint64_t request_id_;
};

Status Expect(client::Connection& io, net::Op op, const std::string& meta, uint64_t* id_out = nullptr) {
  const uint64_t id = io.NextRequestId();
  if (id_out) *id_out = id;
  TW_RETURN_IF_ERROR(io.Send(op, 0, id, meta));
  net::FrameHeader h;
  std::string reply;
  TW_RETURN_IF_ERROR(io.Receive(op, id, &h, &reply));
  net::MetaReader r(reply);
  Status s = r.Stat();
  if (!r.ok()) return Status::Corruption("malformed reply");
  return s;
}

}  // namespace

Result<std::unique_ptr<EventStream>> Subscribe(std::string_view url, const ClientOptions& options) {
  TW_ASSIGN_OR_RETURN(client::Endpoint ep, client::ParseEndpoint(url));
  std::shared_ptr<client::TlsClient> tls;
  if (ep.tls) {
    TW_ASSIGN_OR_RETURN(tls, client::TlsClient::Create(options.tls_ca_file));
  }
  TW_ASSIGN_OR_RETURN(std::unique_ptr<client::Connection> io,
                      client::Connection::Dial(ep, options.connect_timeout_ms, options.io_timeout_ms, tls.get()));
  net::HelloRequest hello;
  hello.token = options.token;
  hello.client_name = options.client_name;
  net::MetaWriter w;
  hello.Encode(w);
  TW_RETURN_IF_ERROR(Expect(*io, net::Op::kHello, w.str()));
  uint64_t id = 0;
  TW_RETURN_IF_ERROR(Expect(*io, net::Op::kSubscribe, "", &id));
  return std::unique_ptr<EventStream>(new EventStreamImpl(std::move(io), id));
}

}  // namespace tw
