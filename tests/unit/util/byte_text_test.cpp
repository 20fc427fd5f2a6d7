#include "util/byte_text.hpp"

#include <gtest/gtest.h>

namespace cwb::util {
namespace {

TEST(ByteText, TellsValidUtf8FromOtherBytes) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9"));      // é precomposed
  EXPECT_TRUE(is_valid_utf8("cafe\xcc\x81"));     // e + combining acute
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80")); // U+1F600
  EXPECT_FALSE(is_valid_utf8("bad\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));         // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));     // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));         // cut short
}

TEST(ByteText, Base64RoundTripsAnyBytesAndRefusesOtherText) {
  for (const std::string& bytes : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                                   std::string("\0\xff\x80\n", 4), std::string(1000, '\xfe')}) {
    const auto text = base64_encode(bytes);
    EXPECT_EQ(text.size() % 4, 0u);
    EXPECT_EQ(base64_decode(text), bytes) << text;
  }
  EXPECT_EQ(base64_encode("ab"), "YWI=");
  EXPECT_FALSE(base64_decode("YWI"));  // not a multiple of 4
  EXPECT_FALSE(base64_decode("Y=WI")); // padding inside
  EXPECT_FALSE(base64_decode("YW!=")); // not the alphabet
}

TEST(ByteText, PrintableKeepsUtf8AndEscapesTheRestOnOneLine) {
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(printable("new\nline\ttab"), "new\\nline\\ttab");
  EXPECT_EQ(printable("bad\xff\x01"), "bad\\xff\\x01");
  EXPECT_TRUE(is_valid_utf8(printable("\xe2\x82 cut")));
  // A control character right after a multi-byte character is escaped too (the line stays one line).
  EXPECT_EQ(printable("\xef\xbf\xbd\n\xc3\xa9\t"), "\xef\xbf\xbd\\n\xc3\xa9\\t");
}

TEST(ByteText, InvalidBytesAreReplacedOneByOneAsGoEncodesThem) {
  // What restic before 0.16 stored for such a link target: each byte that starts no character -> U+FFFD.
  EXPECT_EQ(with_invalid_utf8_replaced("bad\xff\n t"), "bad\xef\xbf\xbd\n t");
  EXPECT_EQ(with_invalid_utf8_replaced("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd"); // cut short: two bytes, two
  EXPECT_EQ(with_invalid_utf8_replaced("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd"); // overlong
  EXPECT_EQ(with_invalid_utf8_replaced("caf\xc3\xa9 \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(with_invalid_utf8_replaced(""), "");
}

} // namespace
} // namespace cwb::util
