// Package markup turns a text written in one of the Bot API's parse modes
// into the plain text and the MTProto message entities Telegram stores.
//
// Parse is the one entry point; every endpoint that takes a parse_mode
// (texts, captions, edits) calls it, once at request time to reject bad
// markup with a 400 and again when the message is sent.
//
// The modes:
//
//   - HTML, MarkdownV2 and Markdown follow the rules of the Telegram Bot API
//     (https://core.telegram.org/bots/api#formatting-options) as TDLib, the
//     library behind the Bot API server, implements them: the same tags,
//     escapes and nesting, the same entities for the same input, and the
//     same error messages ("Can't find end of Bold entity at byte offset
//     0"). Where TDLib's message has no offset, Error adds the byte offset
//     of the offending character.
//   - CommonMark is the Markdown dialect of gotd's telegram/message/markdown
//     (goldmark: **bold**, *italic*, ~~strike~~, ||spoiler||, lists and
//     headings as plain text). It never fails on unmatched markup.
//
// Offsets and lengths of entities are in UTF-16 code units, as MTProto wants.
// A tg://user?id=N link becomes an inputMessageEntityMentionName whose
// InputUser has access hash 0; the caller fills in a known access hash.
//
// Limitations:
//
//   - Dates (<tg-time>, tg://time) are not supported: the tag is rejected as
//     an unsupported tag, the link as an invalid custom emoji URL.
//   - Link URLs are checked with a simpler parser than TDLib's: http(s) links
//     need a dot in the host, tg:// links a host of letters, digits, - and _;
//     a link that fails the check is dropped (its text stays), as the Bot API
//     does. Internationalised host names are kept as written, not punycoded.
//   - The text is not trimmed and entities are not split around each other:
//     Telegram does that when it stores the message.
package markup
