// Files that are either whole or absent.
//
// Output is written under a temporary name next to its destination, flushed,
// then renamed into place (rename is atomic within one filesystem). A crash or
// an exception leaves at most a stray ".tmp" entry, never a half-written file
// that looks whole. StagingDir does the same for a whole output directory.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace hpcnn {

/// Writes `contents` to `path` atomically (temporary file, fsync, rename).
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

/// Renames a finished temporary file onto its final name; on failure removes
/// the temporary and throws naming `path`. The last step of every atomic write.
void rename_into_place(const std::filesystem::path& tmp, const std::filesystem::path& path);

/// Reads a whole (small) file; throws naming the file when it cannot, when
/// it is not a regular file (a device such as /dev/zero or /dev/urandom, a
/// FIFO, a directory) or when it holds more than `max_bytes` (checked before
/// reading: a hostile path costs no memory).
std::string read_text_file(const std::filesystem::path& path, int64_t max_bytes = int64_t{256} << 20);

/// Whether `path` is `dir` or lies below it, both resolved as far as they
/// exist (weakly_canonical: symlinks and .. followed).
bool path_within(const std::filesystem::path& path, const std::filesystem::path& dir);

/// Refuses (UsageError naming `option`) an output path that is not a
/// regular file where something exists (a device such as /dev/null, a FIFO,
/// a directory), that is one of `input_files`, or that lies inside one of
/// `input_dirs` (a dataset being read): `infer --predictions
/// DATASET/manifest.json` overwrote the manifest of the dataset it read.
void check_output_path(const std::string& option, const std::filesystem::path& out,
                       const std::vector<std::filesystem::path>& input_files,
                       const std::vector<std::filesystem::path>& input_dirs);

/// What an output file may replace (check_output_file).
struct OutputRules {
  std::vector<std::filesystem::path> input_files;  ///< never the output
  std::vector<std::filesystem::path> input_dirs;   ///< the output never lies inside one (a dataset)
  bool force = false;                              ///< an existing file hpcnn did not write may be replaced
  std::filesystem::path own_dir;                   ///< files under it are hpcnn's (the run directory)
  /// Recognises a file hpcnn wrote (an HDF5 file with hpcnn's "format"
  /// attribute, a CSV with hpcnn's header); empty: nothing is hpcnn's.
  std::function<bool(const std::filesystem::path&)> written_by_hpcnn;
};

/// The one check for every file hpcnn writes (checkpoint, infer
/// --predictions, quantize --out, hpcnn-merge's files), made before anything
/// is written: check_output_path's refusals (not a regular file, an input,
/// inside an input directory), then an existing file that is neither inside
/// `own_dir` nor recognised by `written_by_hpcnn` needs `force` (issue 26.1:
/// `--checkpoint` replaced /dev/null, a shard, any unrelated file).
void check_output_file(const std::string& option, const std::filesystem::path& out, const OutputRules& rules);

/// A `written_by_hpcnn` for text outputs: the file's first bytes are `prefix`
/// (hpcnn's CSV header, e.g. "index," for infer --predictions).
std::function<bool(const std::filesystem::path&)> text_file_starting_with(std::string prefix);

/// Why open() failed, in words: ELOOP from O_NOFOLLOW says the path is a
/// symbolic link, which hpcnn never follows for files it writes in a run
/// directory (a planted link would make it overwrite the link's target).
std::string open_error(int err);

/// Whether `name`, an entry of a dataset directory, is a file hpcnn's
/// dataset writers make: manifest.json, SPLIT-NNNNN-of-NNNNN.h5 shards, and
/// their NAME.tmp / NAME.tmp.PID temporaries.
bool dataset_writer_file(const std::string& name);

/// A directory built under a temporary name and renamed into place by commit().
/// If commit() is never reached the temporary directory is removed.
class StagingDir {
 public:
  /// `overwrite`: replace an existing destination on commit instead of
  /// failing. Only the entries `replaceable` recognises are replaced: every
  /// other entry of the old destination (a user's NOTES.txt, mine/keep) is
  /// moved into the new one and named in a warning line (issue 26.2: `data
  /// synth --force` deleted them with the dataset).
  StagingDir(std::filesystem::path destination, bool overwrite,
             std::function<bool(const std::string&)> replaceable = dataset_writer_file);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  /// Where files go until commit().
  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& destination() const { return destination_; }
  void commit();
  /// After commit(): the old destination's entries kept because they were not
  /// replaceable (names, sorted).
  const std::vector<std::string>& kept() const { return kept_; }

 private:
  std::filesystem::path destination_;
  std::filesystem::path staging_;
  bool overwrite_;
  std::function<bool(const std::string&)> replaceable_;
  std::vector<std::string> kept_;
  bool committed_ = false;
};

}  // namespace hpcnn
