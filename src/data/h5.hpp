// Thin RAII over the HDF5 C API: handles close themselves, calls are checked.
//
// Only what the dataset and checkpoint code needs: files, groups, chunked
// datasets with the Fletcher32 filter, hyperslab reads/writes of leading rows,
// and scalar/string attributes. HDF5's own error printing is switched off;
// failures become hpcnn::Error naming the file and object.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace hpcnn::h5 {

/// Turns off HDF5's automatic error stack printing (once per process is enough).
void silence_errors();
/// The libhdf5 built here is not thread-safe (no H5_HAVE_THREADSAFE): code
/// that calls HDF5 from two threads (the background reader, data/prefetch.hpp,
/// and a checkpoint written meanwhile) holds this around its calls.
std::recursive_mutex& library_mutex();
/// "1.10.8", with " (parallel)" when the library was built with MPI-IO.
std::string library_version();

/// Owns one hid_t; closes it with the matching H5*close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Gives up ownership without closing; the caller closes the id.
  hid_t release() {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }
  void reset();

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

enum class ElementType { kUInt8, kInt8, kInt32, kInt64, kFloat32, kFloat64 };
hid_t native_type(ElementType type);
size_t element_size(ElementType type);
const char* element_type_name(ElementType type);

class Dataset;

class File {
 public:
  /// Creates (truncating) a file.
  static File create(const std::filesystem::path& path);
  /// Opens read-only; `chunk_cache_bytes` sizes the raw-data chunk cache per dataset.
  static File open_read(const std::filesystem::path& path, size_t chunk_cache_bytes = size_t{64} << 20);

  const std::filesystem::path& path() const { return path_; }
  hid_t id() const { return handle_.get(); }

  /// Creates a chunked dataset of `dims`, chunked along the first dimension by
  /// `chunk_rows`, with Fletcher32 (and optional deflate level, 0 = none).
  Dataset create_dataset(const std::string& name, ElementType type, const std::vector<hsize_t>& dims,
                         hsize_t chunk_rows, int deflate_level = 0);
  /// Creates a small contiguous dataset and writes `values` into it.
  void write_small(const std::string& name, ElementType type, const std::vector<hsize_t>& dims, const void* values);
  Dataset open_dataset(const std::string& name) const;
  bool exists(const std::string& name) const;
  void create_group(const std::string& name);

  void set_attribute(const std::string& name, const std::string& value, const std::string& object = "/");
  void set_attribute(const std::string& name, int64_t value, const std::string& object = "/");
  std::string string_attribute(const std::string& name, const std::string& object = "/") const;
  int64_t int_attribute(const std::string& name, const std::string& object = "/") const;
  bool has_attribute(const std::string& name, const std::string& object = "/") const;

  void flush();
  /// Closes the file now, reporting failures (the destructor cannot).
  void close();

 private:
  File(std::filesystem::path path, Handle handle) : path_(std::move(path)), handle_(std::move(handle)) {}
  std::filesystem::path path_;
  Handle handle_;
};

class Dataset {
 public:
  Dataset(Handle handle, std::string description);
  std::vector<hsize_t> dims() const;
  /// Elements per row (product of all but the first dimension).
  hsize_t row_elements() const;
  /// Element type as stored on disk, mapped to the closest ElementType.
  ElementType stored_type() const;
  bool has_fletcher32() const;
  /// Whether the data is stored in chunks (H5D_CHUNKED), as create_dataset writes it.
  bool is_chunked() const;
  /// Bytes the dataset's data takes in the file (H5Dget_storage_size): a loader
  /// compares it with the size the dims claim before allocating for them.
  hsize_t storage_bytes() const;

  /// Writes rows [first, first + count) from `src` (row-major, `type`).
  void write_rows(hsize_t first, hsize_t count, ElementType type, const void* src);
  /// Reads rows [first, first + count) into `dst`, converting to `type`.
  void read_rows(hsize_t first, hsize_t count, ElementType type, void* dst) const;
  /// Reads the whole dataset converted to `type`.
  void read_all(ElementType type, void* dst) const;

  const std::string& description() const { return description_; }

 private:
  Handle handle_;
  std::string description_;
};

}  // namespace hpcnn::h5
