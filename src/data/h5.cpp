// HDF5 wrappers: every call checked, every handle closed.
#include "data/h5.hpp"

#include <algorithm>
#include <mutex>

#include "core/check.hpp"
#include "core/error.hpp"

namespace hpcnn::h5 {

std::string library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  std::string v = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
#ifdef H5_HAVE_PARALLEL
  v += " (parallel)";
#endif
  return v;
}

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = -1;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_ != nullptr) closer_(id_);
  id_ = -1;
}

hid_t native_type(ElementType type) {
  switch (type) {
    case ElementType::kUInt8: return H5T_NATIVE_UINT8;
    case ElementType::kInt8: return H5T_NATIVE_INT8;
    case ElementType::kInt32: return H5T_NATIVE_INT32;
    case ElementType::kInt64: return H5T_NATIVE_INT64;
    case ElementType::kFloat32: return H5T_NATIVE_FLOAT;
    case ElementType::kFloat64: return H5T_NATIVE_DOUBLE;
  }
  HPCNN_THROW("unknown element type");
}

size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::kUInt8:
    case ElementType::kInt8: return 1;
    case ElementType::kInt32: return 4;
    case ElementType::kFloat32: return 4;
    case ElementType::kInt64: return 8;
    case ElementType::kFloat64: return 8;
  }
  HPCNN_THROW("unknown element type");
}

const char* element_type_name(ElementType type) {
  switch (type) {
    case ElementType::kUInt8: return "uint8";
    case ElementType::kInt8: return "int8";
    case ElementType::kInt32: return "int32";
    case ElementType::kInt64: return "int64";
    case ElementType::kFloat32: return "float32";
    case ElementType::kFloat64: return "float64";
  }
  return "unknown";
}

namespace {
/// Checks an HDF5 id/status, naming the file and what was being done.
long long checked(long long status, const std::filesystem::path& file, const std::string& what) {
  if (status < 0) {
    HPCNN_THROW(file.string(), ": ", what, " failed (", detail::h5_error_string(), ")");
  }
  return status;
}

void ensure_silenced() {
  static std::once_flag once;
  std::call_once(once, silence_errors);
}
}  // namespace

File File::create(const std::filesystem::path& path) {
  ensure_silenced();
  const hid_t id = static_cast<hid_t>(
      checked(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path, "creating HDF5 file"));
  return File(path, Handle(id, H5Fclose));
}

File File::open_read(const std::filesystem::path& path, size_t chunk_cache_bytes) {
  ensure_silenced();
  HPCNN_CHECK(std::filesystem::exists(path), path.string(), ": no such file");
  Handle fapl(static_cast<hid_t>(checked(H5Pcreate(H5P_FILE_ACCESS), path, "H5Pcreate")), H5Pclose);
  // 12421 is a prime well above the number of chunks in any shard we write.
  checked(H5Pset_cache(fapl.get(), 0, 12421, chunk_cache_bytes, 1.0), path, "setting chunk cache");
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (id < 0) {
    const std::string detail = detail::h5_error_string();
    const bool is_hdf5 = H5Fis_hdf5(path.c_str()) > 0;
    H5Eclear2(H5E_DEFAULT);
    HPCNN_THROW(path.string(), is_hdf5 ? ": cannot open HDF5 file, corrupt or truncated (" + detail + ")"
                                       : std::string(": not a valid HDF5 file (corrupt or truncated)"));
  }
  return File(path, Handle(id, H5Fclose));
}

Dataset File::create_dataset(const std::string& name, ElementType type, const std::vector<hsize_t>& dims,
                             hsize_t chunk_rows, int deflate_level) {
  const std::string what = "creating dataset " + name;
  Handle space(
      static_cast<hid_t>(checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), path_, what)),
      H5Sclose);
  Handle dcpl(static_cast<hid_t>(checked(H5Pcreate(H5P_DATASET_CREATE), path_, what)), H5Pclose);
  std::vector<hsize_t> chunk = dims;
  chunk[0] = std::max<hsize_t>(1, std::min(chunk_rows, dims[0]));
  for (hsize_t& c : chunk) c = std::max<hsize_t>(c, 1);
  checked(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), path_, what);
  if (deflate_level > 0) {
    checked(H5Pset_shuffle(dcpl.get()), path_, what);
    checked(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate_level)), path_, what);
  }
  checked(H5Pset_fletcher32(dcpl.get()), path_, what);
  // No creation timestamps: same data => byte-identical files (and SHA-256).
  checked(H5Pset_obj_track_times(dcpl.get(), false), path_, what);
  const hid_t id = static_cast<hid_t>(checked(
      H5Dcreate2(handle_.get(), name.c_str(), native_type(type), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
      path_, what));
  return Dataset(Handle(id, H5Dclose), path_.string() + ":" + name);
}

void File::write_small(const std::string& name, ElementType type, const std::vector<hsize_t>& dims,
                       const void* values) {
  const std::string what = "writing dataset " + name;
  Handle space(
      static_cast<hid_t>(checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), path_, what)),
      H5Sclose);
  Handle dcpl(static_cast<hid_t>(checked(H5Pcreate(H5P_DATASET_CREATE), path_, what)), H5Pclose);
  checked(H5Pset_obj_track_times(dcpl.get(), false), path_, what);
  Handle ds(static_cast<hid_t>(checked(H5Dcreate2(handle_.get(), name.c_str(), native_type(type), space.get(),
                                                  H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                       path_, what)),
            H5Dclose);
  checked(H5Dwrite(ds.get(), native_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, values), path_, what);
}

Dataset File::open_dataset(const std::string& name) const {
  HPCNN_CHECK(exists(name), path_.string(), ": dataset '", name, "' is missing");
  const hid_t id =
      static_cast<hid_t>(checked(H5Dopen2(handle_.get(), name.c_str(), H5P_DEFAULT), path_, "opening " + name));
  return Dataset(Handle(id, H5Dclose), path_.string() + ":" + name);
}

bool File::exists(const std::string& name) const {
  const htri_t r = H5Lexists(handle_.get(), name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

void File::create_group(const std::string& name) {
  Handle gcpl(static_cast<hid_t>(checked(H5Pcreate(H5P_GROUP_CREATE), path_, "creating group " + name)), H5Pclose);
  checked(H5Pset_obj_track_times(gcpl.get(), false), path_, "creating group " + name);
  Handle g(static_cast<hid_t>(checked(H5Gcreate2(handle_.get(), name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                                      path_, "creating group " + name)),
           H5Gclose);
}

namespace {
/// The longest string attribute read back (model strings, class-name lists).
constexpr size_t kMaxStringAttribute = size_t{1} << 20;

/// An attribute read into one value must hold exactly one: reading an array
/// attribute into a scalar would write past it.
void require_one_value(hid_t attr, const std::filesystem::path& path, const std::string& name) {
  Handle space(static_cast<hid_t>(checked(H5Aget_space(attr), path, "reading attribute " + name)), H5Sclose);
  HPCNN_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, path.string(), ": attribute '", name,
              "' must hold one value");
}

Handle open_object(const File& f, const std::string& object) {
  const hid_t id =
      static_cast<hid_t>(checked(H5Oopen(f.id(), object.c_str(), H5P_DEFAULT), f.path(), "opening object " + object));
  return Handle(id, H5Oclose);
}
}  // namespace

void File::set_attribute(const std::string& name, const std::string& value, const std::string& object) {
  Handle obj = open_object(*this, object);
  const std::string what = "writing attribute " + name;
  Handle type(static_cast<hid_t>(checked(H5Tcopy(H5T_C_S1), path_, what)), H5Tclose);
  checked(H5Tset_size(type.get(), std::max<size_t>(1, value.size())), path_, what);
  checked(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), path_, what);
  checked(H5Tset_cset(type.get(), H5T_CSET_UTF8), path_, what);
  Handle space(static_cast<hid_t>(checked(H5Screate(H5S_SCALAR), path_, what)), H5Sclose);
  Handle attr(static_cast<hid_t>(checked(
                  H5Acreate2(obj.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), path_, what)),
              H5Aclose);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  checked(H5Awrite(attr.get(), type.get(), padded.data()), path_, what);
}

void File::set_attribute(const std::string& name, int64_t value, const std::string& object) {
  Handle obj = open_object(*this, object);
  const std::string what = "writing attribute " + name;
  Handle space(static_cast<hid_t>(checked(H5Screate(H5S_SCALAR), path_, what)), H5Sclose);
  Handle attr(
      static_cast<hid_t>(checked(
          H5Acreate2(obj.get(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), path_, what)),
      H5Aclose);
  checked(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), path_, what);
}

bool File::has_attribute(const std::string& name, const std::string& object) const {
  Handle obj = open_object(*this, object);
  const htri_t r = H5Aexists(obj.get(), name.c_str());
  H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

std::string File::string_attribute(const std::string& name, const std::string& object) const {
  Handle obj = open_object(*this, object);
  const std::string what = "reading attribute " + name;
  HPCNN_CHECK(has_attribute(name, object), path_.string(), ": attribute '", name, "' is missing");
  Handle attr(static_cast<hid_t>(checked(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), path_, what)), H5Aclose);
  Handle type(static_cast<hid_t>(checked(H5Aget_type(attr.get()), path_, what)), H5Tclose);
  HPCNN_CHECK(H5Tget_class(type.get()) == H5T_STRING, path_.string(), ": attribute '", name, "' is not a string");
  HPCNN_CHECK(H5Tis_variable_str(type.get()) <= 0, path_.string(), ": attribute '", name,
              "' is a variable-length string (write fixed-length strings)");
  require_one_value(attr.get(), path_, name);
  const size_t size = H5Tget_size(type.get());
  HPCNN_CHECK(size > 0 && size <= kMaxStringAttribute, path_.string(), ": attribute '", name, "' has ", size,
              " bytes (at most ", kMaxStringAttribute, ")");
  std::string value(size, '\0');
  checked(H5Aread(attr.get(), type.get(), value.data()), path_, what);
  value.resize(std::min(value.size(), value.find('\0')));
  return value;
}

int64_t File::int_attribute(const std::string& name, const std::string& object) const {
  Handle obj = open_object(*this, object);
  const std::string what = "reading attribute " + name;
  HPCNN_CHECK(has_attribute(name, object), path_.string(), ": attribute '", name, "' is missing");
  Handle attr(static_cast<hid_t>(checked(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), path_, what)), H5Aclose);
  Handle type(static_cast<hid_t>(checked(H5Aget_type(attr.get()), path_, what)), H5Tclose);
  HPCNN_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, path_.string(), ": attribute '", name, "' is not an integer");
  require_one_value(attr.get(), path_, name);
  int64_t value = 0;
  checked(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), path_, what);
  return value;
}

void File::flush() { checked(H5Fflush(handle_.get(), H5F_SCOPE_LOCAL), path_, "flushing"); }

void File::close() {
  if (handle_.valid()) checked(H5Fclose(handle_.release()), path_, "closing");
}

Dataset::Dataset(Handle handle, std::string description)
    : handle_(std::move(handle)), description_(std::move(description)) {}

std::vector<hsize_t> Dataset::dims() const {
  Handle space(static_cast<hid_t>(checked(H5Dget_space(handle_.get()), description_, "H5Dget_space")), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::clamp(rank, 0, H5S_MAX_RANK)));
  if (!dims.empty()) checked(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), description_, "dims");
  return dims;
}

hsize_t Dataset::storage_bytes() const { return H5Dget_storage_size(handle_.get()); }

hsize_t Dataset::row_elements() const {
  const auto d = dims();
  hsize_t n = 1;
  for (size_t i = 1; i < d.size(); ++i) n *= d[i];
  return n;
}

ElementType Dataset::stored_type() const {
  Handle type(static_cast<hid_t>(checked(H5Dget_type(handle_.get()), description_, "H5Dget_type")), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  const size_t size = H5Tget_size(type.get());
  if (cls == H5T_FLOAT) return size == 4 ? ElementType::kFloat32 : ElementType::kFloat64;
  if (cls == H5T_INTEGER) {
    if (size == 1) return H5Tget_sign(type.get()) == H5T_SGN_2 ? ElementType::kInt8 : ElementType::kUInt8;
    if (size <= 4) return ElementType::kInt32;
    return ElementType::kInt64;
  }
  HPCNN_THROW(description_, ": unsupported element type class ", static_cast<int>(cls));
}

bool Dataset::is_chunked() const {
  Handle dcpl(static_cast<hid_t>(checked(H5Dget_create_plist(handle_.get()), description_, "H5Dget_create_plist")),
              H5Pclose);
  return H5Pget_layout(dcpl.get()) == H5D_CHUNKED;
}

bool Dataset::has_fletcher32() const {
  Handle dcpl(static_cast<hid_t>(checked(H5Dget_create_plist(handle_.get()), description_, "H5Dget_create_plist")),
              H5Pclose);
  const int n = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    size_t nelem = 0;
    unsigned filter_config = 0;
    if (H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelem, nullptr, 0, nullptr, &filter_config) ==
        H5Z_FILTER_FLETCHER32) {
      return true;
    }
  }
  return false;
}

namespace {
/// File and memory dataspaces selecting rows [first, first + count).
std::pair<Handle, Handle> row_selection(hid_t dataset, hsize_t first, hsize_t count, const std::string& what) {
  Handle file_space(static_cast<hid_t>(checked(H5Dget_space(dataset), what, "H5Dget_space")), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(file_space.get());
  HPCNN_CHECK(rank >= 1 && rank <= H5S_MAX_RANK, what, ": has no rows (rank ", rank, ")");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  checked(H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr), what, "H5Sget_simple_extent_dims");
  HPCNN_CHECK(first <= dims[0] && count <= dims[0] - first, what, ": rows [", first, ", ", first + count,
              ") out of range (", dims[0], " rows)");
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> extent = dims;
  start[0] = first;
  extent[0] = count;
  checked(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr), what,
          "selecting rows");
  Handle mem_space(static_cast<hid_t>(checked(H5Screate_simple(rank, extent.data(), nullptr), what, "H5Screate")),
                   H5Sclose);
  return {std::move(file_space), std::move(mem_space)};
}
}  // namespace

void Dataset::write_rows(hsize_t first, hsize_t count, ElementType type, const void* src) {
  if (count == 0) return;
  auto [file_space, mem_space] = row_selection(handle_.get(), first, count, description_);
  checked(H5Dwrite(handle_.get(), native_type(type), mem_space.get(), file_space.get(), H5P_DEFAULT, src), description_,
          "writing rows");
}

void Dataset::read_rows(hsize_t first, hsize_t count, ElementType type, void* dst) const {
  if (count == 0) return;
  auto [file_space, mem_space] = row_selection(handle_.get(), first, count, description_);
  const herr_t status = H5Dread(handle_.get(), native_type(type), mem_space.get(), file_space.get(), H5P_DEFAULT, dst);
  if (status < 0) {
    HPCNN_THROW(description_, ": reading rows [", first, ", ", first + count, ") failed (", detail::h5_error_string(),
                "; the shard is corrupt or its checksum does not match)");
  }
}

void Dataset::read_all(ElementType type, void* dst) const {
  const auto d = dims();
  if (!d.empty()) read_rows(0, d[0], type, dst);
}

}  // namespace hpcnn::h5
