#include "support/hostile_tree.hpp"

#include "util/file_descriptor.hpp"

#include <openssl/evp.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace cwb::test {
namespace {

namespace fs = std::filesystem;

std::unexpected<Error> failed_call(const char* call, const fs::path& path) {
  return fail(ErrorKind::internal,
              std::string("hostile tree: ") + call + " " + path.string() + ": " + std::strerror(errno));
}

struct Attribute {
  std::string name;
  std::string value;
};

/// What an entry gets after it was created: owner, attributes, mode (after chown, which clears
/// setuid/setgid), times.
struct CloseFolder {
  void operator()(DIR* folder) const noexcept { closedir(folder); }
};

/// What an entry gets besides its content. Call sites name only what differs from these defaults
/// (`{.mode = 0600}`), which GCC 12's -Wmissing-field-initializers reports although every member has a
/// default; the pragma above the namespace is for that false alarm alone.
struct Metadata {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0644;
  std::int64_t mtime_seconds = 1'700'000'000;
  long mtime_nanoseconds = 123'456'789;
  std::vector<Attribute> attributes;
};

/// A POSIX ACL as the kernel stores it in system.posix_acl_*: a version, then (tag, permissions, id)
/// entries sorted by tag and id, little endian.
std::string acl_value(const std::vector<std::array<std::uint32_t, 3>>& entries) {
  std::string value;
  const auto put = [&value](std::uint32_t number, int bytes) {
    for (int i = 0; i < bytes; ++i)
      value.push_back(static_cast<char>((number >> (8 * i)) & 0xff));
  };
  put(2, 4);
  for (const auto& [tag, permissions, id] : entries) {
    put(tag, 2);
    put(permissions, 2);
    put(id, 4);
  }
  return value;
}

constexpr std::uint32_t acl_user_obj = 0x01, acl_user = 0x02, acl_group_obj = 0x04, acl_group = 0x08, acl_mask = 0x10,
                        acl_other = 0x20, acl_undefined_id = 0xffffffff;

/// user::rw-, user:1234:rw-, group::r--, group:5678:r--, mask::rw-, other::---.
std::string sample_acl() {
  return acl_value({{acl_user_obj, 6, acl_undefined_id},
                    {acl_user, 6, 1234},
                    {acl_group_obj, 4, acl_undefined_id},
                    {acl_group, 4, 5678},
                    {acl_mask, 6, acl_undefined_id},
                    {acl_other, 0, acl_undefined_id}});
}

class TreeWriter {
public:
  explicit TreeWriter(fs::path root) : root_(std::move(root)) {}

  Result<> directory(const std::string& relative, Metadata metadata = {.mode = 0755}) {
    const auto path = root_ / relative;
    if (mkdir(path.c_str(), 0700) != 0 && !(errno == EEXIST && relative.empty())) return failed_call("mkdir", path);
    // Folders get their metadata last, deepest first: every entry made in them changes their mtime, and
    // a 000 folder is still written into by root.
    folders_.emplace_back(path, std::move(metadata));
    return {};
  }

  Result<> file(const std::string& relative, const std::string& content, Metadata metadata = {}) {
    const auto path = root_ / relative;
    util::FileDescriptor fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return failed_call("open", path);
    if (!write_all(fd.get(), content, 0)) return failed_call("write", path);
    return finish(path, metadata);
  }

  /// A file of `size` bytes holding only `pieces` (offset, bytes): the rest is a hole.
  Result<> sparse_file(const std::string& relative, off_t size,
                       const std::vector<std::pair<off_t, std::string>>& pieces, Metadata metadata = {}) {
    const auto path = root_ / relative;
    util::FileDescriptor fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return failed_call("open", path);
    if (ftruncate(fd.get(), size) != 0) return failed_call("ftruncate", path);
    for (const auto& [offset, bytes] : pieces)
      if (!write_all(fd.get(), bytes, offset)) return failed_call("pwrite", path);
    return finish(path, metadata);
  }

  Result<> symbolic_link(const std::string& relative, const std::string& target, Metadata metadata = {}) {
    const auto path = root_ / relative;
    if (symlink(target.c_str(), path.c_str()) != 0) return failed_call("symlink", path);
    metadata.attributes.clear(); // restic keeps none on links
    return finish(path, metadata, Kind::link);
  }

  Result<> hard_link(const std::string& existing, const std::string& relative) {
    if (link((root_ / existing).c_str(), (root_ / relative).c_str()) != 0) return failed_call("link", root_ / relative);
    return {};
  }

  Result<> node(const std::string& relative, mode_t type, dev_t device, Metadata metadata) {
    const auto path = root_ / relative;
    if (mknod(path.c_str(), type | 0600, device) != 0) return failed_call("mknod", path);
    return finish(path, metadata);
  }

  /// Gives every folder its metadata, deepest (last made) first.
  Result<> finish_folders() {
    for (auto folder = folders_.rbegin(); folder != folders_.rend(); ++folder)
      CWB_TRY(finish(folder->first, folder->second));
    return {};
  }

private:
  enum class Kind { other, link };

  static bool write_all(int fd, const std::string& bytes, off_t offset) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const auto written = pwrite(fd, bytes.data() + done, bytes.size() - done, offset + static_cast<off_t>(done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return false;
      done += static_cast<std::size_t>(written);
    }
    return true;
  }

  static Result<> finish(const fs::path& path, const Metadata& metadata, Kind kind = Kind::other) {
    if (lchown(path.c_str(), metadata.uid, metadata.gid) != 0) return failed_call("lchown", path);
    for (const auto& attribute : metadata.attributes)
      if (lsetxattr(path.c_str(), attribute.name.c_str(), attribute.value.data(), attribute.value.size(), 0) != 0)
        return failed_call(("lsetxattr " + attribute.name).c_str(), path);
    if (kind != Kind::link && chmod(path.c_str(), metadata.mode) != 0) return failed_call("chmod", path);
    const timespec times[2] = {{metadata.mtime_seconds, metadata.mtime_nanoseconds},
                               {metadata.mtime_seconds, metadata.mtime_nanoseconds}};
    if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return failed_call("utimensat", path);
    return {};
  }

  fs::path root_;
  std::vector<std::pair<fs::path, Metadata>> folders_;
};

/// Deterministic bytes that do not compress or deduplicate against each other.
std::string pseudo_random_bytes(std::size_t size, std::uint64_t seed) {
  std::string bytes(size, '\0');
  std::uint64_t state = seed;
  for (auto& byte : bytes) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    byte = static_cast<char>(state >> 56);
  }
  return bytes;
}

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  text.reserve(bytes.size() * 2);
  for (const unsigned char byte : bytes) {
    text.push_back(digits[byte >> 4]);
    text.push_back(digits[byte & 0xf]);
  }
  return text;
}

std::string printable(const std::string& bytes) {
  std::string text;
  for (const unsigned char byte : bytes) {
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      text.push_back(static_cast<char>(byte));
    } else {
      static constexpr char digits[] = "0123456789abcdef";
      text += "\\x";
      text.push_back(digits[byte >> 4]);
      text.push_back(digits[byte & 0xf]);
    }
  }
  return text;
}

Result<std::string> content_sha256(const fs::path& path) {
  util::FileDescriptor fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return failed_call("open", path);
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1)
    return fail(ErrorKind::internal, "hostile tree: SHA-256 unavailable");
  std::array<char, 65536> buffer{};
  for (;;) {
    const auto got = read(fd.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return failed_call("read", path);
    if (got == 0) break;
    EVP_DigestUpdate(context.get(), buffer.data(), static_cast<std::size_t>(got));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest.data(), &length);
  return hex(std::string(reinterpret_cast<const char*>(digest.data()), length));
}

Result<std::string> attributes_of(const fs::path& path) {
  const auto listed = llistxattr(path.c_str(), nullptr, 0);
  if (listed < 0) return errno == ENOTSUP ? std::string() : Result<std::string>(failed_call("llistxattr", path));
  std::string names(static_cast<std::size_t>(listed), '\0');
  const auto got = llistxattr(path.c_str(), names.data(), names.size());
  if (got < 0) return failed_call("llistxattr", path);
  names.resize(static_cast<std::size_t>(got));
  std::vector<std::string> sorted;
  for (std::size_t start = 0; start < names.size();) {
    const auto end = names.find('\0', start);
    sorted.push_back(names.substr(start, end - start));
    start = end == std::string::npos ? names.size() : end + 1;
  }
  std::ranges::sort(sorted);
  std::string text;
  for (const auto& name : sorted) {
    const auto size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) return failed_call(("lgetxattr " + name).c_str(), path);
    std::string value(static_cast<std::size_t>(size), '\0');
    const auto read_bytes = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (read_bytes < 0) return failed_call(("lgetxattr " + name).c_str(), path);
    value.resize(static_cast<std::size_t>(read_bytes));
    text += " xattr:" + name + "=" + hex(value);
  }
  return text;
}

class TreeDescriber {
public:
  explicit TreeDescriber(fs::path root) : root_(std::move(root)) {}

  Result<std::map<std::string, std::string>> run() {
    CWB_TRY(describe(""));
    std::vector<std::string> groups;
    for (auto& [inode, paths] : links_) {
      if (paths.size() < 2) continue;
      std::ranges::sort(paths);
      std::string group;
      for (const auto& path : paths)
        group += (group.empty() ? "" : " = ") + path;
      groups.push_back(group);
    }
    std::ranges::sort(groups);
    std::string all;
    for (const auto& group : groups)
      all += (all.empty() ? "" : " ; ") + group;
    description_["#hard-link groups"] = all;
    return std::move(description_);
  }

private:
  Result<> describe(const std::string& relative) {
    const auto path = relative.empty() ? root_ : root_ / relative;
    struct stat info {};
    if (lstat(path.c_str(), &info) != 0) return failed_call("lstat", path);
    std::ostringstream line;
    const auto type = info.st_mode & S_IFMT;
    line << (type == S_IFREG    ? "file"
             : type == S_IFDIR  ? "directory"
             : type == S_IFLNK  ? "symlink"
             : type == S_IFIFO  ? "fifo"
             : type == S_IFCHR  ? "char-device"
             : type == S_IFBLK  ? "block-device"
             : type == S_IFSOCK ? "socket"
                                : "unknown");
    line << " mode=" << std::oct << (info.st_mode & 07777) << std::dec << " owner=" << info.st_uid << ":" << info.st_gid
         << " mtime=" << info.st_mtim.tv_sec << "." << info.st_mtim.tv_nsec;
    if (type == S_IFREG) {
      auto digest = content_sha256(path);
      if (!digest) return fail(digest.error());
      line << " size=" << info.st_size << " sha256=" << *digest;
      if (info.st_nlink > 1) links_[{info.st_dev, info.st_ino}].push_back(printable(relative));
    }
    if (type == S_IFCHR || type == S_IFBLK) line << " rdev=" << major(info.st_rdev) << ":" << minor(info.st_rdev);
    if (type == S_IFLNK) {
      std::string target(static_cast<std::size_t>(info.st_size) + 1, '\0');
      const auto length = readlink(path.c_str(), target.data(), target.size());
      if (length < 0) return failed_call("readlink", path);
      target.resize(static_cast<std::size_t>(length));
      line << " target=" << hex(target);
    } else {
      auto attributes = attributes_of(path);
      if (!attributes) return fail(attributes.error());
      line << *attributes;
    }
    description_[relative.empty() ? "." : relative] = line.str();
    if (type != S_IFDIR) return {};

    const std::unique_ptr<DIR, CloseFolder> folder(opendir(path.c_str()));
    if (!folder) return failed_call("opendir", path);
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = readdir(folder.get())) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    if (errno != 0) return failed_call("readdir", path);
    for (const auto& name : names)
      CWB_TRY(describe(relative.empty() ? name : relative + "/" + name));
    return {};
  }

  fs::path root_;
  std::map<std::string, std::string> description_;
  std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> links_;
};

} // namespace

Result<> write_hostile_tree(const fs::path& root) {
  TreeWriter tree(root);
  CWB_TRY(tree.directory("", {.uid = 0, .gid = 0, .mode = 0755, .mtime_seconds = 1'650'000'000}));

  // Contents: empty, small, several restic chunks, and holes.
  CWB_TRY(tree.file("plain.txt", "hello\n"));
  CWB_TRY(tree.file("empty", "", {.mode = 0600}));
  CWB_TRY(tree.file("big.bin", pseudo_random_bytes(3 * 1024 * 1024 + 17, 11)));
  CWB_TRY(tree.sparse_file("sparse.img", 8 * 1024 * 1024,
                           {{0, "start"}, {4 * 1024 * 1024 + 3, "middle"}, {8 * 1024 * 1024 - 3, "end"}}));
  CWB_TRY(tree.sparse_file("all-hole.img", 1024 * 1024, {}));

  // Modes, setuid/setgid/sticky and nothing at all.
  CWB_TRY(tree.directory("modes"));
  CWB_TRY(tree.file("modes/setuid", "#!/bin/sh\n", {.mode = 04755}));
  CWB_TRY(tree.file("modes/setgid", "#!/bin/sh\n", {.gid = 50, .mode = 02750}));
  CWB_TRY(tree.file("modes/every-bit", "x", {.mode = 07777}));
  CWB_TRY(tree.file("modes/nothing", "no access\n", {.mode = 0}));
  CWB_TRY(tree.directory("modes/sticky", {.mode = 01777}));
  CWB_TRY(tree.file("modes/sticky/inside", "in a sticky folder\n"));
  CWB_TRY(tree.directory("modes/locked", {.mode = 0}));
  CWB_TRY(tree.file("modes/locked/inside", "in a 000 folder\n", {.mode = 0400}));
  CWB_TRY(tree.directory("modes/setgid-folder", {.gid = 100, .mode = 02775}));

  // Owners of any id, beyond 16 and 31 bits included.
  CWB_TRY(tree.directory("owners", {.uid = 1000, .gid = 1000, .mode = 0750}));
  CWB_TRY(tree.file("owners/high-id", "owned\n", {.uid = 3'000'000'000U, .gid = 3'000'000'001U}));
  CWB_TRY(tree.file("owners/nobody", "owned\n", {.uid = 65534, .gid = 65534}));
  CWB_TRY(tree.file("owners/mixed", "owned\n", {.uid = 0, .gid = 12345}));

  // Times with nanoseconds, before 1970-01-02 and after 2038.
  CWB_TRY(tree.directory("times", {.mode = 0755, .mtime_seconds = 2'000'000'000, .mtime_nanoseconds = 1}));
  CWB_TRY(tree.file("times/before-1970", "old\n", {.mtime_seconds = -31'536'000, .mtime_nanoseconds = 123'456'789}));
  CWB_TRY(tree.file("times/first-day", "1970\n", {.mtime_seconds = 3'600, .mtime_nanoseconds = 1}));
  CWB_TRY(
      tree.file("times/after-2038", "future\n", {.mtime_seconds = 4'102'444'800, .mtime_nanoseconds = 999'999'999}));
  CWB_TRY(tree.file("times/whole-second", "round\n", {.mtime_seconds = 1'600'000'000, .mtime_nanoseconds = 0}));

  // Symbolic links: a target is content, whatever it points at.
  CWB_TRY(tree.directory("links"));
  CWB_TRY(tree.symbolic_link("links/host", "/etc/hostname", {.uid = 4242, .gid = 4343}));
  CWB_TRY(tree.symbolic_link("links/dangling", "missing/nowhere"));
  CWB_TRY(tree.symbolic_link("links/outside", "../../../../../../etc/passwd"));
  CWB_TRY(tree.symbolic_link("links/loop-a", "loop-b"));
  CWB_TRY(tree.symbolic_link("links/loop-b", "loop-a"));
  CWB_TRY(tree.symbolic_link("links/self", "self"));
  CWB_TRY(tree.symbolic_link("links/folder", "../modes"));
  CWB_TRY(tree.symbolic_link("links/odd-target", std::string("bad\xff\n target \\ -x")));
  CWB_TRY(tree.symbolic_link("links/old", "plain.txt", {.mtime_seconds = -1, .mtime_nanoseconds = 5}));

  // Hard-link groups: three names across folders, and a pair.
  CWB_TRY(tree.directory("hardlinks"));
  CWB_TRY(tree.directory("hardlinks/other"));
  CWB_TRY(tree.file("hardlinks/first.txt", "one inode, three names\n", {.uid = 33, .gid = 33, .mode = 0640}));
  CWB_TRY(tree.hard_link("hardlinks/first.txt", "hardlinks/second.txt"));
  CWB_TRY(tree.hard_link("hardlinks/first.txt", "hardlinks/other/third.txt"));
  CWB_TRY(tree.file("hardlinks/pair-a", "a pair\n"));
  CWB_TRY(tree.hard_link("hardlinks/pair-a", "hardlinks/pair-b"));

  // FIFOs and device nodes.
  CWB_TRY(tree.directory("special"));
  CWB_TRY(tree.node("special/fifo", S_IFIFO, 0, {.uid = 999, .gid = 999, .mode = 0620}));
  CWB_TRY(tree.node("special/null-like", S_IFCHR, makedev(1, 3), {.mode = 0666}));
  CWB_TRY(tree.node("special/high-minor", S_IFCHR, makedev(250, 70000), {.mode = 0600}));
  CWB_TRY(tree.node("special/loop-block", S_IFBLK, makedev(7, 0), {.gid = 6, .mode = 0660}));

  // Extended attributes and ACLs, on files and folders.
  const std::string selinux_label = "system_u:object_r:container_file_t:s0:c12,c34";
  CWB_TRY(tree.directory("xattrs", {.mode = 0755,
                                    .attributes = {{"user.folder", "on a folder"},
                                                   {"system.posix_acl_access", sample_acl()},
                                                   {"system.posix_acl_default", sample_acl()}}}));
  CWB_TRY(tree.file("xattrs/labelled", "labelled\n",
                    {.mode = 0640,
                     .attributes = {{"user.origin", std::string("edge\0bytes\xff", 11)},
                                    {"user.empty", ""},
                                    {"security.selinux", selinux_label},
                                    {"trusted.cwb", "trusted"},
                                    {"user.large", pseudo_random_bytes(3000, 7)}}}));
  CWB_TRY(tree.file("xattrs/acl", "with an ACL\n",
                    {.mode = 0660, .attributes = {{"system.posix_acl_access", sample_acl()}}}));

  // Names: not UTF-8, Unicode normalization twins, control characters, 255 bytes, a long path.
  CWB_TRY(tree.directory("names"));
  for (const std::string& name :
       {std::string("bad\xff\xfe"), std::string("new\nline"), std::string("back\\slash"), std::string("-leading-dash"),
        std::string("caf\xc3\xa9"), std::string("cafe\xcc\x81"), std::string(" spaces "), std::string("tab\there"),
        std::string("quote\"and'apostrophe"), std::string(255, 'n')})
    CWB_TRY(tree.file("names/" + name, name));
  CWB_TRY(tree.directory("names/folder\xff\x01"));
  CWB_TRY(tree.file("names/folder\xff\x01/inside\xc3", "inside a folder whose name is not UTF-8\n"));
  std::string deep = "deep";
  CWB_TRY(tree.directory(deep));
  for (char level = 'a'; level <= 'f'; ++level) {
    deep += "/" + std::string(200, level);
    CWB_TRY(tree.directory(deep));
  }
  CWB_TRY(tree.file(deep + "/leaf.txt", "more than 1024 characters from the root\n"));

  return tree.finish_folders();
}

Result<std::map<std::string, std::string>> describe_tree(const fs::path& root) {
  return TreeDescriber(root).run();
}

std::vector<std::string> tree_differences(const std::map<std::string, std::string>& expected,
                                          const std::map<std::string, std::string>& actual) {
  std::vector<std::string> differences;
  for (const auto& [path, line] : expected) {
    const auto found = actual.find(path);
    if (found == actual.end())
      differences.push_back("missing: " + printable(path) + " (" + line + ")");
    else if (found->second != line)
      differences.push_back("differs: " + printable(path) + "\n  expected " + line + "\n  actual   " + found->second);
  }
  for (const auto& [path, line] : actual)
    if (!expected.contains(path)) differences.push_back("unexpected: " + printable(path) + " (" + line + ")");
  return differences;
}

} // namespace cwb::test
