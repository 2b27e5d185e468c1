# owned by the demo work (issue 4)
.PHONY: demo
demo: all
