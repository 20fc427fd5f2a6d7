#include "util/progress_line.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace cwb::util {
namespace {

/// What was written to a temporary FILE*.
class Captured {
public:
  Captured() : file_(std::tmpfile()) {}
  ~Captured() { std::fclose(file_); }
  Captured(const Captured&) = delete;
  Captured& operator=(const Captured&) = delete;
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_))
      out += static_cast<char>(c);
    return out;
  }

private:
  std::FILE* file_;
};

TEST(ProgressLine, RedrawsInPlaceAndEndsWithANewline) {
  Captured out;
  ProgressLine line(true, out.file());
  line.show("mirroring volume a", "1/10 entries");
  line.finish("mirroring volume a", "10 entries");
  EXPECT_EQ(out.text(), "\r\x1b[Kmirroring volume a: 1/10 entries\r\x1b[Kmirroring volume a: 10 entries\n");
}

TEST(ProgressLine, DrawsTheSameStepAtMostFourTimesASecond) {
  Captured out;
  ProgressLine line(true, out.file());
  line.show("restic backup", "1%");
  line.show("restic backup", "2%");                             // within 250 ms: skipped
  line.show("waiting for the database export", "0:01 elapsed"); // another step: drawn at once
  EXPECT_EQ(out.text(), "\r\x1b[Krestic backup: 1%\r\x1b[Kwaiting for the database export: 0:01 elapsed");
}

TEST(ProgressLine, ADisabledLinePrintsNothing) {
  Captured out;
  ProgressLine line(false, out.file());
  line.show("restic backup", "1%");
  line.finish("restic backup", "done");
  EXPECT_EQ(out.text(), "");
}

TEST(ProgressText, BytesAndClock) {
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(5ULL * 1024 * 1024 * 1024), "5.0 GiB");
  EXPECT_EQ(clock_text(std::chrono::seconds(65)), "1:05");
  EXPECT_EQ(clock_text(std::chrono::seconds(7387)), "2:03:07");
  EXPECT_EQ(clock_text(std::chrono::seconds(-3)), "0:00");
}

} // namespace
} // namespace cwb::util
