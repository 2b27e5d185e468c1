# owned by the harness work
harness:
