"""vLLM's paged KV tensors against the warehouse's canonical object layout.

An object holds one block of `block_tokens` tokens as [layer][K,V][kv_head][token][head_dim]. vLLM's
CPU backend holds, per attention layer, a tensor it declares as [pages, kv_heads, page_tokens,
2 * head_dim]; how it really arranges K and V inside each (page, head) region is its kernel's
business and differs by instruction set (measured with vLLM 0.32's "vec" kernel: K is stored
transposed, [head_dim][token], then V as [token][head_dim]; the AMX kernel packs differently). So
the layout is not assumed: at registration, vLLM's own reshape-and-cache kernel writes a probe page
whose every element encodes its canonical position, and what it wrote is read back as a map from
canonical offset to physical offset within a (page, head) region. Copies are then one indexed
gather or scatter per layer and block, over vLLM's memory, with no intermediate buffer.
"""

import warnings

import torch

from ..errors import InvalidArgumentError, NotSupportedError

TORCH_DTYPE = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
KV_DTYPE = {v: k for k, v in TORCH_DTYPE.items()}


def check_block_tokens(block_tokens, page_tokens):
    if block_tokens <= 0 or block_tokens % page_tokens:
        raise InvalidArgumentError(
            f"block_tokens ({block_tokens}) must be a positive multiple of vLLM's block_size ({page_tokens})")


def probe_cpu_layout(write_kernel, kv_heads, head_dim, page_tokens, dtype):
    """The map canonical offset -> physical offset of one (page, head) region of 2 * page_tokens *
    head_dim elements, canonical order being (K or V, token, dim), as `write_kernel(key, value,
    key_cache, value_cache, slot_mapping)` lays it out.

    Each element's canonical offset c is written in two passes, c % 256 and c // 256, small integers
    that every supported dtype (bf16 included) holds exactly."""
    H, N, D = kv_heads, page_tokens, head_dim
    region = 2 * N * D
    canon = torch.arange(region, dtype=torch.long).view(2, N, D)
    decoded = torch.zeros(H, region, dtype=torch.long)
    for part, scale in (("low", 1), ("high", 256)):
        digits = (canon % 256) if part == "low" else (canon // 256)
        cache = torch.full((1, H, N, 2 * D), -1.0, dtype=dtype)
        kv = cache.view(1, H, 2 * N, D)
        k_cache, v_cache = kv.chunk(2, dim=2)
        # key[t, h, d] carries the digit of (K, t, d); the same for every head.
        key = digits[0].to(dtype).unsqueeze(1).expand(N, H, D).contiguous()
        value = digits[1].to(dtype).unsqueeze(1).expand(N, H, D).contiguous()
        write_kernel(key, value, k_cache, v_cache, torch.arange(N, dtype=torch.long))
        got = cache.view(H, region).to(torch.float32)
        if (got < 0).any():
            raise NotSupportedError("vLLM's CPU KV kernel left part of a page unwritten: unknown layout")
        decoded += got.round().to(torch.long) * scale
    physical_to_canon = decoded[0]
    if not all(torch.equal(decoded[h], physical_to_canon) for h in range(1, H)):
        raise NotSupportedError("vLLM's CPU KV kernel lays heads out differently: unknown layout")
    if not torch.equal(torch.sort(physical_to_canon).values, torch.arange(region)):
        raise NotSupportedError("vLLM's CPU KV kernel's page layout is not a permutation: unknown layout")
    canon_to_physical = torch.empty(region, dtype=torch.long)
    canon_to_physical[physical_to_canon] = torch.arange(region)
    return canon_to_physical


class PagedLayout:
    """The pages of every attention layer, in layer order, and how a canonical block maps onto them."""

    def __init__(self, tensors, kv_heads, head_dim, page_tokens, canon_to_physical):
        self.H, self.D, self.N = kv_heads, head_dim, page_tokens
        self.region = 2 * page_tokens * head_dim
        self.flat = []
        for t in tensors:
            s = tuple(t.shape)
            if t.device.type != "cpu":
                raise NotSupportedError(
                    f"KV on {t.device}: the connector copies CPU KV today; CUDA goes through the GPU mover")
            if len(s) != 4 or s[1] != kv_heads or s[2] * s[3] != self.region or not t.is_contiguous():
                raise NotSupportedError(
                    f"unrecognised vLLM KV tensor {s} strides {t.stride()} (expected [pages, {kv_heads}, "
                    f"{page_tokens}, {2 * head_dim}], contiguous)")
            self.flat.append(t.view(s[0], kv_heads, self.region))
        self.m = canon_to_physical  # canonical (kv, token, dim) offset -> physical offset in a region
        # The kernels measured so far store each of K and V either as [token][dim] or transposed as
        # [dim][token], in that order; then strided views copy whole pages at memory speed instead of
        # element by element through the map. Other layouts take the map (correct, several times slower).
        self.halves = self._structured_halves()

    def _structured_halves(self):
        N, D = self.N, self.D
        nd = N * D
        t = torch.arange(N).view(N, 1)
        d = torch.arange(D).view(1, D)
        straight, transposed = (t * D + d).reshape(-1), (d * N + t).reshape(-1)
        out = []
        for half in range(2):
            got = self.m[half * nd:(half + 1) * nd] - half * nd
            if torch.equal(got, straight):
                out.append(False)
            elif torch.equal(got, transposed):
                out.append(True)
            else:
                return None
        return out

    def _half_view(self, regions, half):
        """[pages, H, N, D] view of K (half 0) or V (half 1) over [pages, H, region] memory."""
        nd = self.N * self.D
        part = regions[:, :, half * nd:(half + 1) * nd]
        if self.halves[half]:
            return part.unflatten(2, (self.D, self.N)).transpose(2, 3)
        return part.unflatten(2, (self.N, self.D))

    def _pages(self, block_ids, first_token, n_tokens):
        p0 = first_token // self.N
        return torch.as_tensor(block_ids[p0: p0 + n_tokens // self.N], dtype=torch.long)

    def gather(self, obj, block_ids, first_token):
        """Fills object `obj` (ObjectParts, or a [L, 2, H, T, D] tensor) with the request's tokens
        first_token .. + T (whole pages)."""
        obj = ObjectParts.wrap(obj)
        pages = self._pages(block_ids, first_token, obj.T)
        m = len(pages)
        if self.halves is not None:
            for li, flat in enumerate(self.flat):
                src = flat.index_select(0, pages)  # whole regions: row copies
                for half in range(2):
                    obj.assign(li, half, self._half_view(src, half).transpose(0, 1))
            return
        index = (pages.view(m, 1, 1), torch.arange(self.H).view(1, self.H, 1), self.m.view(1, 1, -1))
        for li, flat in enumerate(self.flat):
            canon = flat[index].view(m, self.H, 2, self.N, self.D)  # canonical order within each page
            for half in range(2):
                obj.assign(li, half, canon[:, :, half].transpose(0, 1))

    def scatter(self, obj, block_ids, obj_first_token, t0, t1):
        """Copies tokens t0..t1 of object `obj` (ObjectParts, or a [L, 2, H, T, D] tensor), whose token 0
        is the request's token obj_first_token (page-aligned), into the pages; tokens outside t0..t1
        keep their values."""
        if t1 <= t0:
            return
        obj = ObjectParts.wrap(obj)
        N = self.N
        a, b = t0 - t0 % N, -(-t1 // N) * N  # the pages touched
        pages = self._pages(block_ids, obj_first_token + a, b - a)
        m = len(pages)
        full = t0 == a and t1 == b
        if full and self.halves is not None:
            for li, flat in enumerate(self.flat):
                for half in range(2):
                    src = obj.read(li, half)[:, a:b, :].reshape(self.H, m, N, self.D).transpose(0, 1)
                    self._half_view(flat, half)[pages] = src  # one indexed copy over vLLM's memory
            return
        if not full:  # a partial first or last page: only the canonical offsets of tokens in t0..t1
            tok = torch.arange(a, b).view(1, m * N)
            keep = ((tok >= t0) & (tok < t1)).view(m, N)
        for li, flat in enumerate(self.flat):
            both = torch.stack([obj.read(li, 0)[:, a:b, :], obj.read(li, 1)[:, a:b, :]])  # [2, H, b-a, D]
            canon = both.reshape(2, self.H, m, N, self.D).permute(2, 1, 0, 3, 4).reshape(m, self.H, self.region)
            if full:
                flat.index_put_((pages.view(m, 1, 1), torch.arange(self.H).view(1, self.H, 1), self.m.view(1, 1, -1)),
                                canon)
                continue
            for j in range(m):
                sel = torch.nonzero(keep[j].view(1, N, 1).expand(2, N, self.D).reshape(-1)).view(-1)
                flat[int(pages[j])][:, self.m[sel]] = canon[j][:, sel]  # flat[int] is a view: writes through


class ObjectParts:
    """An object's K or V of each layer, [H, T, D], as views over its memory where the memory allows.

    The warehouse hands an object over as one memoryview per run of adjacent arena pages (2 MiB by
    default), so a large object comes in several pieces. The canonical layout keeps every (layer,
    K/V, head) run of T * D elements together; a (layer, K/V) group of H runs that one piece holds
    whole is one [H, T, D] view, and one that straddles pieces is a list of per-head [T, D] views.
    """

    def __init__(self, groups, T):
        self.groups = groups  # groups[layer][half]: a [H, T, D] tensor or a list of H [T, D] tensors
        self.T = T

    @staticmethod
    def wrap(obj):
        if isinstance(obj, ObjectParts):
            return obj
        return ObjectParts([[obj[li, 0], obj[li, 1]] for li in range(obj.shape[0])], obj.shape[3])

    @staticmethod
    def over(segments, shape, dtype):
        """Views over `segments` (memoryviews in layout order) of an object of `shape` [L, 2, H, T, D];
        None when a head's run straddles two pieces (then the caller copies the object whole)."""
        L, _, H, T, D = shape
        esize = torch.empty((), dtype=dtype).element_size()
        run = T * D * esize
        with warnings.catch_warnings():  # read views are read-only; those tensors are only read from
            warnings.simplefilter("ignore", UserWarning)
            pieces = [torch.frombuffer(seg, dtype=torch.uint8) if seg.nbytes else None for seg in segments]
        bounds, off = [], 0
        for seg in segments:
            bounds.append((off, off + seg.nbytes))
            off += seg.nbytes
        if off != L * 2 * H * run:
            return None

        def locate(begin, nbytes):
            for i, (lo, hi) in enumerate(bounds):
                if lo <= begin < hi:
                    return (i, begin - lo) if begin + nbytes <= hi else None
            return None

        groups = []
        for li in range(L):
            row = []
            for half in range(2):
                begin = (li * 2 + half) * H * run
                whole = locate(begin, H * run)
                if whole is not None:
                    i, o = whole
                    row.append(pieces[i][o:o + H * run].view(dtype).view(H, T, D))
                    continue
                heads = []
                for h in range(H):
                    at = locate(begin + h * run, run)
                    if at is None:
                        return None
                    i, o = at
                    heads.append(pieces[i][o:o + run].view(dtype).view(T, D))
                row.append(heads)
            groups.append(row)
        return ObjectParts(groups, T)

    def read(self, layer, half):
        """[H, T, D] (a view, or a stacked copy for a group split across pieces)."""
        g = self.groups[layer][half]
        return torch.stack(g) if isinstance(g, list) else g

    def assign(self, layer, half, value):
        """Copies `value` ([H, m, N, D] with m * N == T) into the layer's K (half 0) or V (half 1)."""
        g = self.groups[layer][half]
        H, m, N, D = value.shape
        if isinstance(g, list):
            for h, run in enumerate(g):
                run.view(m, N, D).copy_(value[h])
        else:
            g.view(H, m, N, D).copy_(value)


class ObjectShape:
    """The canonical object of a namespace: [layers, 2, kv_heads, block_tokens, head_dim]."""

    def __init__(self, layers, kv_heads, head_dim, block_tokens, dtype):
        self.shape = (layers, 2, kv_heads, block_tokens, head_dim)
        self.dtype = dtype
        self.nbytes = layers * 2 * kv_heads * block_tokens * head_dim * torch.empty((), dtype=dtype).element_size()

    def over(self, segments):
        """ObjectParts over an object's memory (a list of memoryviews), or None if it cannot be viewed."""
        return ObjectParts.over(segments, self.shape, self.dtype)

    def empty(self):
        return torch.empty(self.shape, dtype=self.dtype)
