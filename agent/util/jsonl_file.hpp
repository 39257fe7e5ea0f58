#pragma once

// An append-only JSONL file: one JSON object per line, each line appended whole and synced
// before its writer goes on. The indexes lethe keeps in state_dir (archives.jsonl,
// encrypted.jsonl) are such files; what each line means is theirs, how lines are read,
// numbered, refused and appended is here.
//
// Readers parse every line strictly and stop at the first line that is not a JSON object or
// that the caller's visitor refuses, with a message naming the file and the line (a file
// that cannot be read never reads as empty). What a last line without its newline means is
// the file's own rule (TornTail). Writers hold whatever lock serializes them (the pass lock
// for the state_dir indexes); readers take no lock.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"

namespace lethe::util {

// What a last line without its newline (an append a crash cut short) means.
enum class TornTail {
    // The file is unreadable until someone repairs it; appends leave the bytes there.
    Refuse,
    // The append was never acknowledged, so nothing acted on it: readers skip the line and
    // the next append drops it before it writes.
    Ignore,
};

// How an append is made durable before it returns.
enum class AppendSync { Fsync, Fdatasync };

// One kind of JSONL file: its words in messages and its rules. The views must outlive every
// call that is given the format (string literals in practice).
struct JsonlFormat {
    std::string_view what;   // names the file in messages: "archive index"
    std::string_view stops;  // what stops while it is unreadable: "... stop until it is repaired"
    std::string_view risk;   // said after a bad line's message: "(nothing archived is ...)"
    TornTail torn_tail = TornTail::Refuse;
    AppendSync sync = AppendSync::Fsync;
};

// Called with each line's object, in file order; an error's message says why the line is
// refused and stops the read.
using JsonlVisitor = std::function<Status(const nlohmann::json& object)>;

// Parses JSONL text read from `source`, calling `each` for every complete line. Fails with
// Refused "WHAT SOURCE line N: WHY; STOPS RISK" on the first line that is not a JSON object
// or that `each` refuses, and on a last line without its newline when the format's
// torn_tail is Refuse (Ignore skips that line).
[[nodiscard]] Status parse_jsonl(std::string_view text, const std::string& source,
                                 const JsonlFormat& format, const JsonlVisitor& each);

// The whole text of the file at `path` (no symlink followed); an absent file is empty. Fails
// with Refused "WHAT PATH cannot be read (ERROR); STOPS" on any other error.
[[nodiscard]] Result<std::string> read_jsonl_text(const std::string& path,
                                                  const JsonlFormat& format);

// Reads the file at `path` as read_jsonl_text does and hands its text to `parse` with
// `path` as the source: `parse` is an index's parse_*_index function.
template <typename Index>
[[nodiscard]] Result<Index> load_jsonl(const std::string& path, const JsonlFormat& format,
                                       Result<Index> (*parse)(std::string_view,
                                                              const std::string&)) {
    auto text = read_jsonl_text(path, format);
    if (!text) return fail(text.error());
    return parse(*text, path);
}

// Appends `line` (dumped on one line, then '\n') to the file at `path`, creating it with
// mode 0600, no symlink followed. With TornTail::Refuse the line is written with O_APPEND
// after whatever the file holds; with Ignore an unterminated last line is first truncated
// away. Then fsync or fdatasync (the format's sync), and when the file was created, the
// folder holding it is fsynced too.
[[nodiscard]] Status append_jsonl(const std::string& path, const JsonlFormat& format,
                                  const nlohmann::json& line);

}  // namespace lethe::util
