#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace lethe::testing {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it on destruction.
// Helpers never write outside it.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::string& path() const { return m_path; }
    [[nodiscard]] std::string operator/(std::string_view relative) const;

    // Writes `content` to `relative` (parents created), optionally setting its mtime to
    // `mtime_date`: "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDThh:mm:ssZ".
    std::string write(std::string_view relative, std::string_view content,
                      std::string_view mtime_date = {}) const;
    void mkdir(std::string_view relative) const;
    // Opens the folder `relative` (may be empty) one component at a time with *at() calls,
    // never following a symlink, creating missing folders: works at any depth, beyond
    // PATH_MAX too. Returns an fd the caller closes, or -1 after failing the current test.
    [[nodiscard]] int open_folder(std::string_view relative) const;

private:
    std::string m_path;
};

// Reads a whole file; fails the current test if it cannot.
std::string slurp(const std::string& path);
bool exists(const std::string& path);
// Sets the mtime (and atime) to "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDThh:mm:ssZ".
void set_mtime(const std::string& path, std::string_view date);

}  // namespace lethe::testing
