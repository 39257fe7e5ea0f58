# Thin wrapper over CMake presets. The two commands the README promises: `make demo`, `make test`.
.PHONY: all deps build demo test test-debug test-asan bench clean format package

all: build

deps:
	@scripts/install-deps

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release

demo: build
	scripts/demo

test: deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug
	ctest --preset debug

test-asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan
	ctest --preset asan

# The Debian package, from the release build: build/release/lethe_<version>_<arch>.deb
package: build
	cd build/release && cpack -G DEB

bench: deps
	bench/walk.sh

format:
	find agent tests -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf build demo-share
