// `tokenwarehouse bench disk --dir D`: the disk tier against its ceiling, in one run on one directory.
//
// Ceiling (raw): plain O_DIRECT io_uring sequential writes, then reads, of one preallocated file,
// at the tier's I/O size and depth (reads: depth x read threads in flight, as many as the tier's
// reading threads keep in flight together), from one aligned buffer. The raw write is timed to the end of
// an fdatasync, because the tier's sustained writes pay its regions' seal syncs: on a virtual disk
// whose host caches writes, O_DIRECT without a flush measures the host's memory, and each flush then
// costs what the device really takes (2026-12-03: 0.35-0.5x "raw" before, see bench/results).
// Tier: DiskTier::Enqueue as the demotion hook calls it (the object borrowed with an owner: checksummed in place, its pages written straight
// out, held until written) until Flush returns, and DiskTier::Read (what promotion does:
// header + payload straight into aligned memory, checksum verified) of every object, for each object
// size, promotion reading ~256 MiB of objects per batch as a prefix load does. Restart: close the tier (sealing) and time Open, which rebuilds the index. Baseline: one
// buffered file per object (open/write/close, the way LMCache's local disk backend stores chunks),
// timed until fdatasync'd; reads after POSIX_FADV_DONTNEED so they come from the device, not the
// page cache. Each figure is the median of --reps runs; the files are written once, untimed, before
// the first run and reused across runs (the tier reuses its regions), so every timed write, raw or
// tier, overwrites blocks written before.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "bench_util.h"
#include "commands.h"
#include "common/env/env.h"
#include "store/tier/disk_tier.h"

namespace tw::cli {
namespace {

constexpr uint64_t kReadBatchBytes = 256ull << 20;  // a prefix promoted at once: 8 blocks of an 8B model

struct BenchDiskOptions {
  std::string dir;
  uint64_t total_mb = 1024;  // bytes moved per measurement
  std::vector<uint64_t> sizes_mb{2, 8, 32};
  uint64_t io_kb = 1024;
  uint32_t depth = 8;
  uint32_t read_threads = DiskTierOptions().read_threads;
  uint64_t region_mb = 256;
  int reps = 3;
  uint64_t restart_objects = 0;  // > 0: also time a restart over this many 4 KiB objects
  bool json = false;
  bool keep = false;
  bool copy = false;  // demote by copying (no owner given), to compare with borrowing
  uint64_t sync_interval_ms = DiskTierOptions().sync_interval_ms;
};

// Keys are hashes in real use (the index shards and hashes on their first 8 bytes), so make these
// look like hashes too.
BlockKey KeyOf(uint64_t size, uint64_t i) {
  BlockKey k;
  uint64_t a = (i + 1) * 0x9E3779B97F4A7C15ull ^ size * 0xBF58476D1CE4E5B9ull;
  a ^= a >> 31;
  std::memcpy(k.bytes, &a, 8);
  std::memcpy(k.bytes + 8, &i, 8);
  return k;
}

NamespaceId BenchNs() {
  NamespaceId ns;
  std::memcpy(ns.bytes, "bench-disk-ns---", 16);
  return ns;
}

// Process CPU seconds (user + system), to tell a disk-bound run from a CPU-starved one.
double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double LoadAverage() {
  double l = 0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = 0;
    std::fclose(f);
  }
  return l;
}

// Writes `n` objects of 4 KiB (8 KiB records) into a fresh tier, closes it and times the reopen:
// the index rebuilt from region footers. Returns {seconds, objects indexed}.
Result<std::pair<double, uint64_t>> MeasureLargeRestart(const std::string& dir, uint64_t n, uint64_t region_bytes) {
  DiskTierOptions o;
  o.dir = dir;
  o.region_bytes = region_bytes;
  const uint64_t per_region = (region_bytes - 4 * kBlockBytes) / (2 * kBlockBytes + kFooterEntryBytes);
  o.capacity_bytes = ((n + per_region - 1) / per_region + 2) * region_bytes;
  {
    TW_ASSIGN_OR_RETURN(std::unique_ptr<DiskTier> t, DiskTier::Open(o));
    const KvGeometry g{1, 1, 64, KvDtype::kF16, 16};
    std::vector<std::byte> payload(g.ObjectBytes(), std::byte{7});
    std::span<const std::byte> seg(payload);
    for (uint64_t i = 0; i < n; ++i) {
      TW_RETURN_IF_ERROR(t->Enqueue(BenchNs(), KeyOf(1, i), KeyOf(1, i + 1), g, 0, {&seg, 1}, payload.size()));
      if (i % 65536 == 0) Progress("bench disk: restart set, %llu / %llu objects", (unsigned long long)i, (unsigned long long)n);
    }
  }
  uint64_t t0 = MonotonicNanos();
  TW_ASSIGN_OR_RETURN(std::unique_ptr<DiskTier> t, DiskTier::Open(o));
  uint64_t t1 = MonotonicNanos();
  return std::make_pair(static_cast<double>(t1 - t0) / 1e9, t->Counters().recovered_objects);
}

struct SizeResult {
  uint64_t object_bytes = 0;
  double tier_write = 0, tier_read = 0, fpo_write = 0, fpo_read = 0;
  double write_vs_raw_paired = 0, read_vs_raw_paired = 0;  // median over runs of tier / raw of the same run
};

// Raw sequential O_DIRECT bandwidth of `bytes` through one file: writes at io_bytes x depth, reads
// at io_bytes x read_depth.
Result<std::pair<double, double>> MeasureRaw(File& file, const AlignedBuffer& buf, uint64_t bytes, uint64_t io_bytes,
                                             uint32_t depth, uint32_t read_depth) {
  std::vector<IoOp> ops;
  for (uint64_t off = 0; off < bytes; off += io_bytes) {
    ops.push_back({IoOp::Kind::kWrite, off, buf.data() + off % buf.size(), std::min(io_bytes, bytes - off)});
  }
  uint64_t t0 = MonotonicNanos();
  TW_RETURN_IF_ERROR(file.Submit(ops, depth));
  TW_RETURN_IF_ERROR(file.Sync());
  uint64_t t1 = MonotonicNanos();
  for (IoOp& op : ops) op.kind = IoOp::Kind::kRead;
  TW_RETURN_IF_ERROR(file.Submit(ops, read_depth));
  uint64_t t2 = MonotonicNanos();
  return std::make_pair(Gbps(bytes, t1 - t0), Gbps(bytes, t2 - t1));
}

Result<std::pair<double, double>> MeasureFilePerObject(const std::string& dir, const AlignedBuffer& src,
                                                       uint64_t size, uint64_t count, const AlignedBuffer& dst) {
  std::filesystem::create_directories(dir);
  std::vector<int> fds;
  uint64_t t0 = MonotonicNanos();
  for (uint64_t i = 0; i < count; ++i) {
    const std::string path = dir + "/" + KeyOf(size, i).ToHex() + ".kv";
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IOError("open " + path + ": " + std::strerror(errno));
    for (uint64_t done = 0; done < size;) {
      ssize_t n = write(fd, src.data() + done, size - done);
      if (n <= 0) return Status::IOError("write " + path + ": " + std::strerror(errno));
      done += static_cast<uint64_t>(n);
    }
    fds.push_back(fd);
  }
  for (int fd : fds) fdatasync(fd);  // timed until durable, like the tier's O_DIRECT writes
  uint64_t t1 = MonotonicNanos();
  for (int fd : fds) {
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
  uint64_t t2 = MonotonicNanos();
  for (uint64_t i = 0; i < count; ++i) {
    const std::string path = dir + "/" + KeyOf(size, i).ToHex() + ".kv";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::IOError("open " + path + ": " + std::strerror(errno));
    for (uint64_t done = 0; done < size;) {
      ssize_t n = read(fd, dst.data() + done, size - done);
      if (n <= 0) return Status::IOError("read " + path + ": " + std::strerror(errno));
      done += static_cast<uint64_t>(n);
    }
    close(fd);
  }
  uint64_t t3 = MonotonicNanos();
  std::filesystem::remove_all(dir);
  return std::make_pair(Gbps(size * count, t1 - t0), Gbps(size * count, t3 - t2));
}

int Fail(const Status& s) {
  std::fprintf(stderr, "\nbench disk: %s\n", s.ToString().c_str());
  return 1;
}

int Run(const BenchDiskOptions& opt) {
  const std::string root = opt.dir + "/tw-bench-disk." + std::to_string(getpid());
  std::filesystem::create_directories(root);
  const uint64_t total = opt.total_mb << 20;
  const uint64_t io_bytes = opt.io_kb << 10;
  uint64_t max_size = 0;
  for (uint64_t mb : opt.sizes_mb) max_size = std::max(max_size, mb << 20);
  AlignedBuffer src(max_size), dst(std::max(max_size, kReadBatchBytes));
  if (!src || !dst) return Fail(Status::ResourceExhausted("cannot map benchmark buffers"));
  std::memset(dst.data(), 0, dst.size());  // faulted in before any timed read
  for (uint64_t i = 0; i < src.size(); i += 8) {
    const uint64_t v = i * 0x9E3779B97F4A7C15ull;
    std::memcpy(src.data() + i, &v, 8);
  }

  FileOptions fo;
  fo.create = true;
  Result<std::unique_ptr<File>> raw = Env::Posix()->Open(root + "/raw.dat", fo);
  if (!raw.ok()) return Fail(raw.status());
  if (Status s = (*raw)->Preallocate(total); !s.ok()) return Fail(s);
  const bool direct = (*raw)->direct();

  DiskTierOptions to;
  to.dir = root + "/tier";
  to.region_bytes = opt.region_mb << 20;
  // Room for one run's objects of any size plus spare regions: later runs reclaim and reuse regions.
  uint64_t regions_needed = 0;
  for (uint64_t mb : opt.sizes_mb) {
    const uint64_t per_region = (to.region_bytes - 4 * kBlockBytes) / ((mb << 20) + kBlockBytes + kFooterEntryBytes);
    if (per_region == 0) return Fail(Status::InvalidArgument("--region-mb must exceed the largest object"));
    const uint64_t count = std::max<uint64_t>(4, total / (mb << 20));
    regions_needed = std::max(regions_needed, (count + per_region - 1) / per_region);
  }
  to.capacity_bytes = (regions_needed + 2) * to.region_bytes;
  to.io_bytes = io_bytes;
  to.io_depth = opt.depth;
  to.read_threads = opt.read_threads;
  const uint32_t read_depth = std::min<uint32_t>(64, opt.depth * opt.read_threads);
  to.sync_interval_ms = opt.sync_interval_ms;
  to.write_queue_bytes = std::max<uint64_t>(256ull << 20, 4 * max_size);

  // Untimed warm-up, so that raw and tier are compared like with like: both then overwrite file
  // blocks written before, as the tier does in steady state (it reuses its regions in place). Without
  // it the tier's first runs wrote into fresh fallocated extents (ext4 converts unwritten extents on
  // their first write) while raw's median came from overwrites of raw.dat.
  Progress("%s", "bench disk: warm-up (raw file and every tier region written once)");
  if (Result<std::pair<double, double>> w = MeasureRaw(**raw, src, total, io_bytes, opt.depth, read_depth); !w.ok()) {
    return Fail(w.status());
  }
  {
    Result<std::unique_ptr<DiskTier>> tier = DiskTier::Open(to);
    if (!tier.ok()) return Fail(tier.status());
    // The smallest objects pack regions the tightest, so nearly every block of every region is written.
    uint64_t min_size = max_size;
    for (uint64_t mb : opt.sizes_mb) min_size = std::min(min_size, mb << 20);
    const KvGeometry geometry{static_cast<uint32_t>(min_size >> 20), 8, 128, KvDtype::kBF16, 512};
    std::span<const std::byte> seg(src.data(), min_size);
    const uint64_t fill = to.capacity_bytes / (min_size + kBlockBytes) + 1;
    for (uint64_t i = 0; i < fill; ++i) {
      const uint64_t k = (uint64_t{0xFFFF} << 32) | i;
      Status s = (*tier)->Enqueue(BenchNs(), KeyOf(1, k), KeyOf(1, k + 1), geometry, 0, {&seg, 1}, min_size);
      if (!s.ok()) return Fail(s.WithContext("warm-up"));
    }
  }  // closing seals

  std::vector<double> raw_w, raw_r;
  std::vector<double> all_pw, all_pr;  // tier / raw of the same run, every size and run
  std::vector<SizeResult> results;
  double restart_s = 0;
  uint64_t restart_objects = 0;
  std::vector<double> restart_runs, write_cpu;
  const double load_before = LoadAverage();
  for (uint64_t mb : opt.sizes_mb) {
    const uint64_t size = mb << 20;
    const uint64_t count = std::max<uint64_t>(4, total / size);
    std::vector<double> tw, tr, fw, fr, pw, pr;
    for (int rep = 0; rep < opt.reps; ++rep) {
      Progress("bench disk: %llu MiB objects, run %d/%d: raw", (unsigned long long)mb, rep + 1, opt.reps);
      Result<std::pair<double, double>> r = MeasureRaw(**raw, src, total, io_bytes, opt.depth, read_depth);
      if (!r.ok()) return Fail(r.status());
      raw_w.push_back(r->first);
      raw_r.push_back(r->second);

      Progress("bench disk: %llu MiB objects, run %d/%d: tier", (unsigned long long)mb, rep + 1, opt.reps);
      Result<std::unique_ptr<DiskTier>> tier = DiskTier::Open(to);
      if (!tier.ok()) return Fail(tier.status());
      const KvGeometry geometry{static_cast<uint32_t>(mb), 8, 128, KvDtype::kBF16, 512};  // mb MiB per object
      std::span<const std::byte> seg(src.data(), size);
      // Stands for the DRAM object the demotion hook lends: `src` outlives every tier opened here.
      const std::shared_ptr<const void> owner =
          opt.copy ? nullptr : std::shared_ptr<const void>(src.data(), [](const void*) {});
      const uint64_t salt = (uint64_t(rep) << 32);
      const double cpu0 = CpuSeconds();
      uint64_t t0 = MonotonicNanos();
      for (uint64_t i = 0; i < count; ++i) {
        // Successive objects come from successive memory, cycling through `src` as raw's writes do:
        // the same few MiB written again and again would stay in caches on the way to the device.
        seg = {src.data() + (i * size) % src.size(), size};
        Status s = (*tier)->Enqueue(BenchNs(), KeyOf(size, salt | i), KeyOf(size, salt | (i + 1)), geometry, 0, {&seg, 1}, size, owner);
        if (!s.ok()) return Fail(s);
      }
      (*tier)->Flush();
      uint64_t t1 = MonotonicNanos();
      write_cpu.push_back((CpuSeconds() - cpu0) / (static_cast<double>(t1 - t0) / 1e9));
      // Promotion reads a prefix of blocks at once: batches of ~256 MiB (one object when larger).
      const uint64_t batch = std::max<uint64_t>(1, kReadBatchBytes / size);
      std::vector<std::span<std::byte>> outs;
      for (uint64_t b = 0; b < batch; ++b) outs.emplace_back(dst.data() + (b * size) % dst.size(), size);
      for (uint64_t i = 0; i < count; i += batch) {
        std::vector<DiskTier::ReadItem> items;
        for (uint64_t b = 0; b < batch && i + b < count; ++b) {
          items.push_back({BenchNs(), KeyOf(size, salt | (i + b)), {&outs[b], 1}, Status::Ok()});
        }
        (*tier)->ReadBatch(items);
        Status s;
        for (const auto& it : items) {
          if (!it.status.ok()) s = it.status;
        }
        if (!s.ok()) return Fail(s.WithContext("tier read"));
      }
      uint64_t t2 = MonotonicNanos();
      // The last batch's objects, each against the slice of `src` it was written from.
      for (uint64_t i = count - (count - 1) % batch - 1, b = 0; i < count; ++i, ++b) {
        if (std::memcmp(outs[b].data(), src.data() + (i * size) % src.size(), size) != 0) {
          return Fail(Status::Internal("tier read returned other bytes"));
        }
      }
      if ((*tier)->Stats().errors) return Fail(Status::IOError("tier reported errors"));
      tw.push_back(Gbps(size * count, t1 - t0));
      tr.push_back(Gbps(size * count, t2 - t1));
      // Raw ran just before, on the same disk in the same minute: the ratio of the pair is immune to
      // the device's speed drifting between runs (raw write ranged 1.3-3.2 GB/s within an hour here).
      pw.push_back(tw.back() / raw_w.back());
      pr.push_back(tr.back() / raw_r.back());
      all_pw.push_back(pw.back());
      all_pr.push_back(pr.back());
      tier->reset();  // seals
      uint64_t t3 = MonotonicNanos();
      tier = DiskTier::Open(to);
      uint64_t t4 = MonotonicNanos();
      if (!tier.ok()) return Fail(tier.status());
      restart_runs.push_back(static_cast<double>(t4 - t3) / 1e9);
      restart_objects = (*tier)->Counters().recovered_objects;
      tier->reset();

      Progress("bench disk: %llu MiB objects, run %d/%d: file per object", (unsigned long long)mb, rep + 1, opt.reps);
      Result<std::pair<double, double>> f = MeasureFilePerObject(root + "/fpo", src, size, count, dst);
      if (!f.ok()) return Fail(f.status());
      fw.push_back(f->first);
      fr.push_back(f->second);
    }
    results.push_back({size, Median(tw), Median(tr), Median(fw), Median(fr), Median(pw), Median(pr)});
  }
  restart_s = Median(restart_runs);
  if (opt.restart_objects) {
    Result<std::pair<double, uint64_t>> r = MeasureLargeRestart(root + "/restart", opt.restart_objects, to.region_bytes);
    if (!r.ok()) return Fail(r.status());
    restart_s = r->first;
    restart_objects = r->second;
  }
  const double load_after = LoadAverage();
  Progress("%s", "");
  if (!opt.keep) std::filesystem::remove_all(root);

  std::vector<double> tws, trs, fws, frs;
  for (const SizeResult& r : results) {
    tws.push_back(r.tier_write);
    trs.push_back(r.tier_read);
    fws.push_back(r.fpo_write);
    frs.push_back(r.fpo_read);
  }
  const double rw = Median(raw_w), rr = Median(raw_r);
  const double tw = Median(tws), tr = Median(trs), fw = Median(fws), fr = Median(frs);
  if (opt.json) {
    std::printf("{\"raw_write_gbps\": %.3f, \"raw_read_gbps\": %.3f, \"tier_write_gbps\": %.3f, \"tier_read_gbps\": %.3f, "
                "\"tier_write_vs_raw\": %.3f, \"tier_read_vs_raw\": %.3f, \"tier_write_vs_raw_paired\": %.3f, "
                "\"tier_read_vs_raw_paired\": %.3f, \"restart_s\": %.4f, \"restart_objects\": %llu, "
                "\"file_per_object_write_gbps\": %.3f, \"file_per_object_read_gbps\": %.3f, \"io_bytes\": %llu, "
                "\"io_depth\": %u, \"read_threads\": %u, \"raw_read_depth\": %u, \"region_bytes\": %llu, \"bytes_per_run\": %llu, \"reps\": %d, \"o_direct\": %s, "
                "\"tier_write_cpu_cores\": %.2f, \"demote\": \"%s\", \"sync_interval_ms\": %llu, \"load_average\": [%.1f, %.1f], \"sizes\": [",
                rw, rr, tw, tr, tw / rw, tr / rr, Median(all_pw), Median(all_pr), restart_s, (unsigned long long)restart_objects, fw, fr,
                (unsigned long long)io_bytes, opt.depth, opt.read_threads, read_depth, (unsigned long long)to.region_bytes, (unsigned long long)total,
                opt.reps, direct ? "true" : "false", Median(write_cpu), opt.copy ? "copy" : "borrow",
                (unsigned long long)opt.sync_interval_ms, load_before, load_after);
    for (size_t i = 0; i < results.size(); ++i) {
      const SizeResult& r = results[i];
      std::printf("%s{\"object_bytes\": %llu, \"tier_write_gbps\": %.3f, \"tier_read_gbps\": %.3f, "
                  "\"file_per_object_write_gbps\": %.3f, \"file_per_object_read_gbps\": %.3f, "
                  "\"write_vs_raw_paired\": %.3f, \"read_vs_raw_paired\": %.3f}",
                  i ? ", " : "", (unsigned long long)r.object_bytes, r.tier_write, r.tier_read, r.fpo_write, r.fpo_read,
                  r.write_vs_raw_paired, r.read_vs_raw_paired);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("Disk tier vs raw O_DIRECT io_uring (%llu KiB x %u deep; reads %u threads, raw %u deep%s), GB/s, "
              "median of %d runs of %llu MiB\n",
              (unsigned long long)opt.io_kb, opt.depth, opt.read_threads, read_depth,
              direct ? "" : "; O_DIRECT unsupported here: buffered",
              opt.reps, (unsigned long long)opt.total_mb);
  std::printf("raw: write %.2f, read %.2f\n", rw, rr);
  std::printf("%10s %10s %7s %10s %7s %14s %14s\n", "object", "tier write", "x raw", "tier read", "x raw", "file/obj write",
              "file/obj read");
  for (const SizeResult& r : results) {
    std::printf("%6llu MiB %10.2f %6.2fx %10.2f %6.2fx %14.2f %14.2f\n", (unsigned long long)(r.object_bytes >> 20),
                r.tier_write, r.tier_write / rw, r.tier_read, r.tier_read / rr, r.fpo_write, r.fpo_read);
  }
  std::printf("median: tier write %.2f GB/s = %.2fx raw, tier read %.2f GB/s = %.2fx raw; file per object %.2f / %.2f\n",
              tw, tw / rw, tr, tr / rr, fw, fr);
  std::printf("paired (tier / raw of the same run, median over sizes and runs): write %.2fx, read %.2fx\n",
              Median(all_pw), Median(all_pr));
  std::printf("restart: %llu objects indexed in %.3f s\n", (unsigned long long)restart_objects, restart_s);
  std::printf("tier writes used %.2f CPU cores (copy + checksum + I/O); load average %.1f before, %.1f after\n",
              Median(write_cpu), load_before, load_after);
  return 0;
}

}  // namespace

void RegisterBenchDiskCommand(CLI::App& bench) {
  auto opt = std::make_shared<BenchDiskOptions>();
  CLI::App* cmd = bench.add_subcommand("disk", "Disk tier write/read bandwidth vs raw O_DIRECT, restart time, file-per-object baseline");
  cmd->add_option("--dir", opt->dir, "A directory on the disk to measure (not tmpfs)")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--total-mb", opt->total_mb, "MiB moved per measurement")->capture_default_str()->check(CLI::Range(64, 1 << 20));
  cmd->add_option("--sizes-mb", opt->sizes_mb, "Object sizes in MiB")->capture_default_str()->delimiter(',');
  cmd->add_option("--io-kb", opt->io_kb, "KiB per I/O (the tier's and raw's)")->capture_default_str()->check(CLI::Range(4, 65536));
  cmd->add_option("--depth", opt->depth, "I/Os in flight (per reading thread)")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--read-threads", opt->read_threads, "Threads the tier reads a batch with")
      ->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--region-mb", opt->region_mb, "Region file size in MiB")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--reps", opt->reps, "Runs per measurement (the median is reported)")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_option("--restart-objects", opt->restart_objects,
                  "Also time a restart over this many 4 KiB objects (e.g. 1000000)")->capture_default_str();
  cmd->add_flag("--json", opt->json, "Print one JSON object instead of a table");
  cmd->add_flag("--keep", opt->keep, "Keep the benchmark files");
  cmd->add_flag("--copy", opt->copy, "Demote by copying into the write queue instead of borrowing the object's pages");
  cmd->add_option("--sync-interval-ms", opt->sync_interval_ms, "The tier's interval sync of the region being written (0: off)")
      ->capture_default_str();
  cmd->callback([opt] { ExitCode() = Run(*opt); });
}

}  // namespace tw::cli
