#include "tests/support/sample_files.hpp"

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace lethe::testing {

namespace {

uint32_t crc32(std::string_view bytes) {
    static const std::array<uint32_t, 256> kTable = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t n = 0; n < 256; ++n) {
            uint32_t c = n;
            for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1U) : c >> 1U;
            t[n] = c;
        }
        return t;
    }();
    uint32_t c = 0xFFFFFFFFU;
    for (char ch : bytes) c = kTable[(c ^ static_cast<unsigned char>(ch)) & 0xFFU] ^ (c >> 8U);
    return c ^ 0xFFFFFFFFU;
}

uint32_t adler32(std::string_view bytes) {
    uint32_t a = 1;
    uint32_t b = 0;
    for (char ch : bytes) {
        a = (a + static_cast<unsigned char>(ch)) % 65521U;
        b = (b + a) % 65521U;
    }
    return (b << 16U) | a;
}

void be32(std::string& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> static_cast<unsigned>(shift)) & 0xFFU);
}
void le16(std::string& out, uint32_t v) {
    out += static_cast<char>(v & 0xFFU);
    out += static_cast<char>((v >> 8U) & 0xFFU);
}
void le32(std::string& out, uint32_t v) {
    le16(out, v & 0xFFFFU);
    le16(out, v >> 16U);
}

void png_chunk(std::string& out, std::string_view type, std::string_view data) {
    be32(out, static_cast<uint32_t>(data.size()));
    std::string body(type);
    body += data;
    out += body;
    be32(out, crc32(body));
}

}  // namespace

std::string minimal_pdf() {
    std::vector<std::string> objects = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    };
    std::string out = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
    std::vector<size_t> offsets;
    for (size_t i = 0; i < objects.size(); ++i) {
        offsets.push_back(out.size());
        out += fmt::format("{} 0 obj\n{}\nendobj\n", i + 1, objects[i]);
    }
    size_t xref = out.size();
    out += fmt::format("xref\n0 {}\n0000000000 65535 f \n", objects.size() + 1);
    for (size_t off : offsets) out += fmt::format("{:010} 00000 n \n", off);
    out += fmt::format("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{}\n%%EOF\n", objects.size() + 1, xref);
    return out;
}

std::string png_1x1() {
    std::string out = "\x89PNG\r\n\x1a\n";
    std::string ihdr;
    be32(ihdr, 1);                          // width
    be32(ihdr, 1);                          // height
    ihdr += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit greyscale, deflate, no filter, no interlace
    png_chunk(out, "IHDR", ihdr);
    std::string raw("\x00\x80", 2);         // filter byte none, one grey pixel
    std::string zlib("\x78\x01", 2);        // deflate, 32K window, no preset dictionary
    zlib += std::string("\x01\x02\x00\xfd\xff", 5);  // final stored block of 2 bytes
    zlib += raw;
    be32(zlib, adler32(raw));
    png_chunk(out, "IDAT", zlib);
    png_chunk(out, "IEND", "");
    return out;
}

std::string docx_like_zip() {
    const std::vector<std::pair<std::string, std::string>> members = {
        {"[Content_Types].xml",
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/"
         "package/2006/content-types\"><Override PartName=\"/word/document.xml\" ContentType=\""
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>"},
        {"_rels/.rels",
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/"
         "package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/"
         "officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>"},
        {"word/document.xml",
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/"
         "wordprocessingml/2006/main\"><w:body><w:p><w:r><w:t>Engagement letter</w:t></w:r></w:p></w:body>"
         "</w:document>"},
    };
    std::string out;
    std::string central;
    for (const auto& [name, data] : members) {
        uint32_t crc = crc32(data);
        auto size = static_cast<uint32_t>(data.size());
        auto name_size = static_cast<uint32_t>(name.size());
        auto offset = static_cast<uint32_t>(out.size());
        le32(out, 0x04034b50U);  // local file header
        le16(out, 20);           // version needed
        le16(out, 0);            // flags
        le16(out, 0);            // stored
        le16(out, 0);            // time 00:00
        le16(out, 0x5B21);       // date 2025-09-01
        le32(out, crc);
        le32(out, size);
        le32(out, size);
        le16(out, name_size);
        le16(out, 0);
        out += name;
        out += data;
        le32(central, 0x02014b50U);  // central directory header
        le16(central, 20);
        le16(central, 20);
        le16(central, 0);
        le16(central, 0);
        le16(central, 0);
        le16(central, 0x5B21);
        le32(central, crc);
        le32(central, size);
        le32(central, size);
        le16(central, name_size);
        le16(central, 0);  // extra
        le16(central, 0);  // comment
        le16(central, 0);  // disk
        le16(central, 0);  // internal attributes
        le32(central, 0);  // external attributes
        le32(central, offset);
        central += name;
    }
    auto central_offset = static_cast<uint32_t>(out.size());
    out += central;
    le32(out, 0x06054b50U);  // end of central directory
    le16(out, 0);
    le16(out, 0);
    le16(out, static_cast<uint32_t>(members.size()));
    le16(out, static_cast<uint32_t>(members.size()));
    le32(out, static_cast<uint32_t>(central.size()));
    le32(out, central_offset);
    le16(out, 0);
    return out;
}

std::string plain_text() {
    return "Dear Ms Hale,\n\nPlease find enclosed the completion statement for the purchase of\n"
           "14 Mill Lane. Kindly return the signed copy at your convenience.\n\nYours sincerely,\n"
           "A. Partner\n";
}

}  // namespace lethe::testing
