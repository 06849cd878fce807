"""The page layout, checked against vLLM's own CPU kernel: KV that vLLM's reshape-and-cache wrote into
its pages comes out of PagedLayout.gather in the canonical [layer][K,V][head][token][dim] order, and
scatter puts a canonical object back where the kernel would have written it, token by token."""

import pytest
import torch
from vllm import _custom_ops as ops
from vllm.v1.attention.backends.cpu_attn import _get_attn_isa

from tokenwarehouse.errors import NotSupportedError
from tokenwarehouse.vllm import layout

PAGES, HEADS, N, DIM, T = 12, 2, 32, 64, 64  # T: a block spans two pages


def kernel_for(dtype):
    isa = _get_attn_isa(dtype, N, DIM, "auto")

    def write(key, value, k_cache, v_cache, slots):
        ops.cpu_attn_reshape_and_cache(key, value, k_cache, v_cache, slots, isa)

    return write


def write_with_vllm(cache, key, value, slots):
    # The CPU backend's own reading of its cache (cpu_attn.py, forward()).
    k_cache, v_cache = cache.view(cache.shape[0], HEADS, 2 * N, DIM).chunk(2, dim=2)
    kernel_for(cache.dtype)(key, value, k_cache, v_cache, slots)


def request_slots(block_ids, n):
    tok = torch.arange(n)
    return torch.tensor(block_ids)[tok // N] * N + tok % N


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gather_reads_what_vllms_kernel_wrote(dtype):
    torch.manual_seed(0)
    n = 3 * T
    block_ids = [7, 2, 9, 0, 11, 4]  # the request's pages, scattered
    key, value = torch.randn(n, HEADS, DIM).to(dtype), torch.randn(n, HEADS, DIM).to(dtype)
    caches = [torch.zeros(PAGES, HEADS, N, 2 * DIM, dtype=dtype) for _ in range(2)]
    for c in caches:
        write_with_vllm(c, key, value, request_slots(block_ids, n))
    m = layout.probe_cpu_layout(kernel_for(dtype), HEADS, DIM, N, dtype)
    paged = layout.PagedLayout(caches, HEADS, DIM, N, m)
    for b in range(3):
        obj = torch.empty(2, 2, HEADS, T, DIM, dtype=dtype)
        paged.gather(obj, block_ids, b * T)
        for li in range(2):
            assert torch.equal(obj[li, 0], key[b * T:(b + 1) * T].permute(1, 0, 2))
            assert torch.equal(obj[li, 1], value[b * T:(b + 1) * T].permute(1, 0, 2))


def test_scatter_writes_exactly_what_the_kernel_would_for_a_token_range():
    torch.manual_seed(1)
    block_ids = [5, 3, 8, 1]
    key, value = torch.randn(2 * T, HEADS, DIM), torch.randn(2 * T, HEADS, DIM)
    background = torch.randn(PAGES, HEADS, N, 2 * DIM)
    # What vLLM's kernel makes of tokens 74..127 (an unaligned start, inside page 8).
    want = background.clone()
    first, end = T + 10, 2 * T
    write_with_vllm(want, key[first:end], value[first:end], request_slots(block_ids, end)[first:])
    got = background.clone()
    m = layout.probe_cpu_layout(kernel_for(torch.float32), HEADS, DIM, N, torch.float32)
    paged = layout.PagedLayout([got], HEADS, DIM, N, m)
    obj = torch.stack([key[T:2 * T].permute(1, 0, 2), value[T:2 * T].permute(1, 0, 2)]).unsqueeze(0)
    paged.scatter(obj.contiguous(), block_ids, T, 10, T)
    assert torch.equal(got, want)
    # Whole pages take the batched path; the result is the kernel's too.
    want2, got2 = background.clone(), background.clone()
    write_with_vllm(want2, key[T:], value[T:], request_slots(block_ids, 2 * T)[T:])
    layout.PagedLayout([got2], HEADS, DIM, N, m).scatter(obj.contiguous(), block_ids, T, 0, T)
    assert torch.equal(got2, want2)


def test_the_kernel_layout_is_not_the_declared_one():
    """Why the layout is probed: vLLM 0.32's CPU kernel stores K transposed within a page."""
    m = layout.probe_cpu_layout(kernel_for(torch.float32), HEADS, DIM, N, torch.float32)
    assert not torch.equal(m, torch.arange(2 * N * DIM))


def test_unknown_shapes_are_refused_by_name():
    m = torch.arange(2 * N * DIM)
    with pytest.raises(NotSupportedError, match="unrecognised vLLM KV tensor"):
        layout.PagedLayout([torch.zeros(4, 3, N, 2 * DIM)], HEADS, DIM, N, m)


def test_general_map_path_agrees_with_the_strided_one():
    """Layouts other than [token][dim] / [dim][token] halves go element by element through the probed
    map; on the kernel's own layout both paths must give the same bytes."""
    torch.manual_seed(2)
    m = layout.probe_cpu_layout(kernel_for(torch.float32), HEADS, DIM, N, torch.float32)
    block_ids = [6, 1, 10, 3]
    obj = torch.randn(1, 2, HEADS, T, DIM)
    outs = []
    for structured in (True, False):
        cache = torch.zeros(PAGES, HEADS, N, 2 * DIM)
        paged = layout.PagedLayout([cache], HEADS, DIM, N, m)
        assert paged.halves is not None
        if not structured:
            paged.halves = None
        paged.scatter(obj, block_ids, 0, 0, T)
        paged.scatter(obj, block_ids, T, 5, T)  # a partial first page
        back = torch.empty_like(obj)
        paged.gather(back, block_ids, 0)
        assert torch.equal(back, obj)
        outs.append(cache)
    assert torch.equal(outs[0], outs[1])


def test_objects_in_several_arena_pieces_are_viewed_without_a_copy():
    """A daemon hands a large object over as one memoryview per 2 MiB arena page: each (layer, K/V)
    group a piece holds whole is a view; a group split across pieces is one view per head."""
    torch.manual_seed(3)
    shape = (2, 2, HEADS, T, DIM)
    obj = torch.randn(shape)
    raw = bytearray(obj.numpy().tobytes())
    run = T * DIM * 4
    cuts = [0, 3 * run, 5 * run, len(raw)]  # the second group is split between pieces 0 and 1
    pieces = [memoryview(raw)[a:b] for a, b in zip(cuts, cuts[1:])]
    parts = layout.ObjectParts.over(pieces, shape, torch.float32)
    assert isinstance(parts.groups[0][1], list) and not isinstance(parts.groups[0][0], list)
    for li in range(2):
        for half in range(2):
            assert torch.equal(parts.read(li, half), obj[li, half])
    # Writes land in the pieces' memory.
    parts.assign(0, 1, torch.zeros(HEADS, 2, N, DIM))
    assert not any(raw[2 * run: 4 * run])
    # A head's run cut in two cannot be viewed: the caller copies the object whole.
    odd = [memoryview(raw)[: run // 2], memoryview(raw)[run // 2:]]
    assert layout.ObjectParts.over(odd, shape, torch.float32) is None
