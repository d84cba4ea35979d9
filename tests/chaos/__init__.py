"""The chaos harness shared by bench/chaos.py and tests/test_chaos.py."""
