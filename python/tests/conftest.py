import pytest

import tokenwarehouse as tw


@pytest.fixture
def store():
    return tw.open(dram_capacity_bytes=16 << 20, page_bytes=4096)


@pytest.fixture
def ns(store):
    # 2 layers x 2 KV heads x 8 dims, f16, 4-token blocks: 256-byte objects.
    return store.register_namespace(model_id="pytest-model", layers=2, kv_heads=2, head_dim=8, dtype="f16",
                                    block_tokens=4)
