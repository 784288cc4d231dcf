.PHONY: test install
install:
	pip install -e ".[test]"
test:
	pip install -e ".[test]" && pytest
