//! Every fixture under `tests/fixtures/{x,meta,generic}` read by its adapter, each post compared
//! whole (so every normalised field is asserted), and the skipped events counted.

use chrono::{DateTime, Utc};
use tend_channels::{Attachment, Author, Change, Channel, Inbound, Lookup, Parsed, generic, meta, x};

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn at(rfc3339: &str) -> Option<DateTime<Utc>> {
    Some(DateTime::parse_from_rfc3339(rfc3339).expect("test timestamp").with_timezone(&Utc))
}

fn media(content_type: &str, url: &str) -> Attachment {
    Attachment { content_type: content_type.into(), url: url.into(), ..Attachment::default() }
}

fn post(channel: Channel, account: &str, id: &str, change: Change) -> Inbound {
    let mut post = Inbound::new(channel, account, id);
    post.change = change;
    post
}

fn assert_posts(parsed: &Parsed, expected: &[Inbound]) {
    assert_eq!(parsed.posts.len(), expected.len(), "post count: {:#?}", parsed.posts);
    for (got, want) in parsed.posts.iter().zip(expected) {
        assert_eq!(got, want);
    }
}

// ---- X Account Activity ----

#[test]
fn x_tweet_create_extended_reply_with_media() {
    let parsed = x::parse_account_activity(&fixture("x/tweet_create_events.json")).unwrap();
    let mut want = post(Channel::X, "2244994945", "1050118621198921728", Change::Created);
    want.in_reply_to = "1050116000000000000".into();
    want.author = Author {
        id: "6253282".into(),
        handle: "furiouscamper".into(),
        display_name: "Jordan Brinks".into(),
        followers: Some(6_133_636),
        verified: true,
        location: "Boulder, CO".into(),
        email: String::new(),
    };
    want.text = "@TwitterDev My order #A-1234 still hasn't arrived and it's been three weeks. Nobody answers \
                 the support line, what is going on with your deliveries? Photo of the tracking page attached. \
                 https://t.co/MkGjXf9aXm"
        .into();
    want.language_hint = "en".into();
    want.posted_at = at("2018-10-10T20:19:24Z");
    want.attachments = vec![
        media("photo", "https://pbs.twimg.com/media/DpOS1ivU0AAGYyA.jpg"),
        media("video", "https://video.twimg.com/ext_tw_video/1050118614248960001/pu/vid/1280x720/box.mp4"),
    ];
    want.url = "https://x.com/furiouscamper/status/1050118621198921728".into();
    assert_posts(&parsed, &[want]);
    assert!(parsed.skipped.is_empty());
}

#[test]
fn x_retweet_is_a_repost() {
    let parsed = x::parse_account_activity(&fixture("x/tweet_create_retweet.json")).unwrap();
    let mut want = post(Channel::X, "2244994945", "1050295636184977408", Change::Created);
    want.thread_id = "1050295636184977408".into();
    want.repost_of = "1050068288409616384".into();
    want.author = Author {
        id: "783214".into(),
        handle: "samrivera".into(),
        display_name: "Sam Rivera".into(),
        followers: Some(411),
        ..Author::default()
    };
    want.text = "RT @TwitterDev: Today we're launching the new status page for the developer platform. Check it \
                 out and let us know what you think!"
        .into();
    want.language_hint = "en".into();
    want.posted_at = at("2018-10-11T08:02:51Z");
    want.url = "https://x.com/samrivera/status/1050295636184977408".into();
    assert_posts(&parsed, &[want]);
}

#[test]
fn x_quote_tweet_names_the_quoted() {
    let parsed = x::parse_account_activity(&fixture("x/tweet_create_quote.json")).unwrap();
    let mut want = post(Channel::X, "2244994945", "1050714000000000000", Change::Created);
    want.thread_id = "1050714000000000000".into();
    want.quote_of = "1050068288409616384".into();
    want.author = Author {
        id: "99887766".into(),
        handle: "priya_n".into(),
        display_name: "Priya N".into(),
        followers: Some(0),
        location: "Leeds".into(),
        ..Author::default()
    };
    want.text = "Still down for me \u{1f620} https://t.co/QuoteLink1".into();
    // `und`: X could not tell, so no hint.
    want.language_hint = String::new();
    want.posted_at = at("2018-10-12T11:45:00Z");
    want.url = "https://x.com/priya_n/status/1050714000000000000".into();
    assert_posts(&parsed, &[want]);
}

#[test]
fn x_own_tweet_is_skipped() {
    let parsed = x::parse_account_activity(&fixture("x/tweet_create_own.json")).unwrap();
    assert!(parsed.posts.is_empty());
    assert_eq!(parsed.skipped, ["x.own_tweet"]);
}

#[test]
fn x_direct_message_with_attachment_and_users_map() {
    let parsed = x::parse_account_activity(&fixture("x/direct_message_events.json")).unwrap();
    let mut want = post(Channel::X, "4337869213", "954491830116155396", Change::Created);
    want.private = true;
    want.thread_id = "3001969357".into();
    want.author = Author {
        id: "3001969357".into(),
        handle: "furiouscamper".into(),
        display_name: "Jordan Brinks".into(),
        followers: Some(22),
        verified: false,
        location: "Boulder, CO".into(),
        email: String::new(),
    };
    want.text = "Hello World! Here is the damaged box https://t.co/dmPhotoLnk".into();
    want.posted_at = at("2018-01-19T23:12:40.557Z");
    want.attachments =
        vec![media("photo", "https://ton.twitter.com/1.1/ton/data/dm/954491830116155396/954491813188866048/box.jpg")];
    assert_posts(&parsed, &[want]);
    assert_eq!(parsed.skipped, ["x.own_message"]);
}

#[test]
fn x_tweet_delete() {
    let parsed = x::parse_account_activity(&fixture("x/tweet_delete_events.json")).unwrap();
    let mut want = post(Channel::X, "930524282358325248", "1045405559317569537", Change::Deleted);
    want.author.id = "6253282".into();
    assert_posts(&parsed, &[want]);
    assert_eq!(parsed.skipped, ["x.own_tweet_delete"]);
}

#[test]
fn x_favorites_and_follows_are_skipped_and_counted() {
    let parsed = x::parse_account_activity(&fixture("x/favorite_events.json")).unwrap();
    assert!(parsed.posts.is_empty());
    let mut skipped = parsed.skipped.clone();
    skipped.sort_unstable();
    assert_eq!(skipped, ["x.favorite_events", "x.follow_events"]);
}

#[test]
fn x_mentions_v2() {
    let mentions = x::parse_mentions("1065249714214457345", &fixture("x/mentions_v2.json")).unwrap();
    let dev = Author {
        id: "2244994945".into(),
        handle: "TwitterDev".into(),
        display_name: "Twitter Dev".into(),
        followers: Some(513_961),
        verified: true,
        location: "127.0.0.1".into(),
        email: String::new(),
    };
    let maya = Author {
        id: "1324848235714736129".into(),
        handle: "mayaok".into(),
        display_name: "Maya Okafor".into(),
        followers: Some(87),
        ..Author::default()
    };

    let mut first = post(Channel::X, "1065249714214457345", "1296887316556980230", Change::Created);
    first.thread_id = "1296887091901718529".into();
    first.in_reply_to = "1296887091901718529".into();
    first.author = dev;
    first.text = "See how @SurfsUpBoards is keeping customers informed with the API! https://t.co/mqYrWKKSxe".into();
    first.language_hint = "en".into();
    first.posted_at = at("2020-08-21T19:10:05Z");
    first.url = "https://x.com/TwitterDev/status/1296887316556980230".into();

    let mut second = post(Channel::X, "1065249714214457345", "1296887929491046401", Change::Created);
    second.thread_id = "1296887091901718529".into();
    second.in_reply_to = "1296887316556980230".into();
    second.quote_of = "1296880000000000000".into();
    second.author = maya.clone();
    second.text =
        "@SurfsUpBoards @TwitterDev my board arrived cracked, order #88123. Who do I talk to? https://t.co/crack1"
            .into();
    second.language_hint = "en".into();
    second.posted_at = at("2020-08-21T19:12:31Z");
    second.attachments = vec![media("photo", "https://pbs.twimg.com/media/EgAbCdEfGh.jpg")];
    second.url = "https://x.com/mayaok/status/1296887929491046401".into();

    let mut third = post(Channel::X, "1065249714214457345", "1296888000000000000", Change::Created);
    third.thread_id = "1296888000000000000".into();
    third.author = maya;
    third.text = "@SurfsUpBoards https://t.co/pic2".into();
    // `qme`: media only, no language.
    third.posted_at = at("2020-08-21T19:20:00Z");
    third.url = "https://x.com/mayaok/status/1296888000000000000".into();

    assert_posts(&mentions.parsed, &[first, second, third]);
    assert!(mentions.parsed.skipped.is_empty());
    assert_eq!(mentions.newest_id, "1296888000000000000");
    assert_eq!(mentions.next_token, "7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i");

    // Polled as TwitterDev, its own tweet is skipped.
    let own = x::parse_mentions("2244994945", &fixture("x/mentions_v2.json")).unwrap();
    assert_eq!(own.parsed.posts.len(), 2);
    assert_eq!(own.parsed.skipped, ["x.own_tweet"]);
}

#[test]
fn x_empty_mentions_page() {
    let mentions = x::parse_mentions("1", br#"{"meta":{"result_count":0}}"#).unwrap();
    assert!(mentions.parsed.posts.is_empty());
    assert_eq!(mentions.newest_id, "");
}

// ---- Meta ----

const PAGE: &str = "104757235281203";
const FB_POST: &str = "104757235281203_1353269864728879";
const FB_POST_URL: &str = "https://www.facebook.com/104757235281203/posts/1353269864728879";
const IG: &str = "17841405822304914";

fn cinderella() -> Author {
    Author { id: "2385940381524567".into(), display_name: "Cinderella Hoover".into(), ..Author::default() }
}

fn tom() -> Author {
    Author { id: "3017749088240355".into(), display_name: "Tom Baker".into(), ..Author::default() }
}

#[test]
fn meta_page_comment_add_and_own_reply_skipped() {
    let parsed = meta::parse(&fixture("meta/page_feed_comment_add.json")).unwrap();
    let mut want = post(Channel::Facebook, PAGE, "1353269864728879_1353270524728813", Change::Created);
    want.thread_id = FB_POST.into();
    want.in_reply_to = FB_POST.into();
    want.author = cinderella();
    want.text = "The app keeps logging me out since the update. Anyone else?".into();
    want.posted_at = at("2018-03-07T00:46:11Z");
    want.attachments = vec![media("photo", "https://scontent.xx.fbcdn.net/v/t1.0-9/28795616_screenshot_n.jpg")];
    want.url = FB_POST_URL.into();
    assert_posts(&parsed, &[want]);
    assert_eq!(parsed.skipped, ["meta.own_comment"]);
}

#[test]
fn meta_page_comment_reply_to_comment() {
    let parsed = meta::parse(&fixture("meta/page_feed_comment_reply.json")).unwrap();
    let mut want = post(Channel::Facebook, PAGE, "1353269864728879_1353272000000001", Change::Created);
    want.thread_id = FB_POST.into();
    want.in_reply_to = "1353269864728879_1353270524728813".into();
    want.author = tom();
    want.text = "Same here, since Tuesday.".into();
    // `created_time` given as a string of digits here.
    want.posted_at = DateTime::from_timestamp(1_520_384_000, 0);
    want.url = FB_POST_URL.into();
    assert_posts(&parsed, &[want]);
}

#[test]
fn meta_page_comment_edited() {
    let parsed = meta::parse(&fixture("meta/page_feed_comment_edited.json")).unwrap();
    let mut want = post(Channel::Facebook, PAGE, "1353269864728879_1353270524728813", Change::Edited);
    want.thread_id = FB_POST.into();
    want.in_reply_to = FB_POST.into();
    want.author = cinderella();
    want.text = "The app keeps logging me out since the 4.2 update. Anyone else?".into();
    want.posted_at = DateTime::from_timestamp(1_520_383_900, 0);
    want.url = FB_POST_URL.into();
    assert_posts(&parsed, &[want]);
}

#[test]
fn meta_page_comment_remove() {
    let parsed = meta::parse(&fixture("meta/page_feed_comment_remove.json")).unwrap();
    let mut want = post(Channel::Facebook, PAGE, "1353269864728879_1353270524728813", Change::Deleted);
    want.thread_id = FB_POST.into();
    want.in_reply_to = FB_POST.into();
    want.author = cinderella();
    want.posted_at = DateTime::from_timestamp(1_520_384_100, 0);
    assert_posts(&parsed, &[want]);
}

#[test]
fn meta_page_posts_reactions_and_hides() {
    let parsed = meta::parse(&fixture("meta/page_feed_post_add.json")).unwrap();
    let mut status = post(Channel::Facebook, PAGE, "104757235281203_1353300000000000", Change::Created);
    status.thread_id = "104757235281203_1353300000000000".into();
    status.author = cinderella();
    status.text = "Visited your Leeds store today, the staff were wonderful.".into();
    status.posted_at = DateTime::from_timestamp(1_520_400_000, 0);

    let mut photo = post(Channel::Facebook, PAGE, "104757235281203_1353300000000001", Change::Created);
    photo.thread_id = "104757235281203_1353300000000001".into();
    photo.author = tom();
    photo.text = "Charged twice for one order. Receipt attached.".into();
    photo.posted_at = DateTime::from_timestamp(1_520_400_060, 0);
    photo.attachments = vec![media("photo", "https://scontent.xx.fbcdn.net/v/t1.0-9/29000000_receipt_n.jpg")];

    assert_posts(&parsed, &[status, photo]);
    assert_eq!(parsed.skipped, ["meta.feed.reaction", "meta.feed.other_verb"]);
}

#[test]
fn meta_messenger_message_with_attachments() {
    let parsed = meta::parse(&fixture("meta/messenger_message.json")).unwrap();
    let mut want = post(Channel::Facebook, PAGE, "m_1457764197618:41d102a3e1ae206a38", Change::Created);
    want.private = true;
    want.thread_id = "6789012345678901".into();
    want.in_reply_to = "m_1457764100000:41d102a3e1ae206a00".into();
    want.author.id = "6789012345678901".into();
    want.text = "hello, world! my parcel came damaged, photo attached".into();
    want.posted_at = at("2016-03-23T00:25:52.478Z");
    want.attachments = vec![
        media("image", "https://scontent.xx.fbcdn.net/v/t1.15752-9/damaged_parcel.jpg"),
        media("file", "https://cdn.fbsbx.com/v/t59.2708-21/invoice.pdf"),
    ];
    assert_posts(&parsed, &[want]);
    assert!(parsed.skipped.is_empty());
}

#[test]
fn meta_messenger_message_edit() {
    let parsed = meta::parse(&fixture("meta/messenger_message_edit.json")).unwrap();
    let mut want = post(Channel::Facebook, PAGE, "m_1457764197618:41d102a3e1ae206a38", Change::Edited);
    want.private = true;
    want.thread_id = "6789012345678901".into();
    want.author.id = "6789012345678901".into();
    want.text = "hello, world! my parcel came damaged and opened, photo attached".into();
    want.posted_at = DateTime::from_timestamp_millis(1_458_692_800_000);
    assert_posts(&parsed, &[want]);
}

#[test]
fn meta_echo_read_and_delivery_are_skipped() {
    let parsed = meta::parse(&fixture("meta/messenger_echo.json")).unwrap();
    assert!(parsed.posts.is_empty());
    assert_eq!(parsed.skipped, ["meta.message_echo", "meta.messaging.read", "meta.messaging.delivery"]);
}

#[test]
fn meta_instagram_comments() {
    let parsed = meta::parse(&fixture("meta/instagram_comments.json")).unwrap();
    let mut want = post(Channel::Instagram, IG, "17865799348089039", Change::Created);
    want.thread_id = "123123123".into();
    want.in_reply_to = "1231231234".into();
    want.author = Author { id: "232323232".into(), handle: "test_user".into(), ..Author::default() };
    want.text = "This is an example. Where is my refund?".into();
    want.posted_at = DateTime::from_timestamp(1_520_383_571, 0);
    assert_posts(&parsed, &[want]);
    assert_eq!(parsed.skipped, ["meta.own_comment"]);
}

#[test]
fn meta_instagram_mentions() {
    let parsed = meta::parse(&fixture("meta/instagram_mentions.json")).unwrap();
    let mut in_comment = post(Channel::Instagram, IG, "17894227972186120", Change::Created);
    in_comment.thread_id = "mention:17918195224117851".into();
    in_comment.in_reply_to = "17918195224117851".into();
    in_comment.posted_at = DateTime::from_timestamp(1_520_383_600, 0);
    in_comment.lookup = Some(Lookup::InstagramMentionedComment {
        comment_id: "17894227972186120".into(),
        media_id: "17918195224117851".into(),
    });
    let mut in_caption = post(Channel::Instagram, IG, "17918195224117999", Change::Created);
    in_caption.thread_id = "mention:17918195224117999".into();
    in_caption.posted_at = DateTime::from_timestamp(1_520_383_600, 0);
    in_caption.lookup = Some(Lookup::InstagramMentionedMedia { media_id: "17918195224117999".into() });
    assert_posts(&parsed, &[in_comment, in_caption]);
}

#[test]
fn meta_instagram_mentions_are_completed_from_the_graph_api() {
    let parsed = meta::parse(&fixture("meta/instagram_mentions.json")).unwrap();
    let [mut in_comment, mut in_caption] = <[Inbound; 2]>::try_from(parsed.posts).unwrap();
    let base = "https://graph.facebook.com/v21.0/";
    assert_eq!(
        meta::lookup_url(base, IG, in_comment.lookup.as_ref().unwrap()),
        format!(
            "https://graph.facebook.com/v21.0/{IG}?fields=mentioned_comment.comment_id(17894227972186120)\
             {{id,text,timestamp,username,media{{id,permalink}}}}"
        )
    );
    assert_eq!(
        meta::lookup_url(base, IG, in_caption.lookup.as_ref().unwrap()),
        format!(
            "https://graph.facebook.com/v21.0/{IG}?fields=mentioned_media.media_id(17918195224117999)\
             {{id,caption,timestamp,username,permalink,media_type,media_url}}"
        )
    );

    meta::complete_mention(&mut in_comment, &fixture("meta/graph_mentioned_comment.json")).unwrap();
    let mut want = post(Channel::Instagram, IG, "17894227972186120", Change::Created);
    want.thread_id = "mention:17918195224117851".into();
    want.in_reply_to = "17918195224117851".into();
    want.author = Author { id: "jane.doe".into(), handle: "jane.doe".into(), ..Author::default() };
    want.text = "@acme_care my order 4471 never arrived and nobody answers email".into();
    want.posted_at = DateTime::from_timestamp(1_520_383_600, 0);
    want.url = "https://www.instagram.com/p/BfLf7xgDfDa/".into();
    assert_eq!(in_comment, want);

    meta::complete_mention(&mut in_caption, &fixture("meta/graph_mentioned_media.json")).unwrap();
    let mut want = post(Channel::Instagram, IG, "17918195224117999", Change::Created);
    want.thread_id = "mention:17918195224117999".into();
    want.author = Author { id: "kettle.fan".into(), handle: "kettle.fan".into(), ..Author::default() };
    want.text = "Unboxing my new kettle from @acme_care, love it".into();
    want.posted_at = DateTime::from_timestamp(1_520_383_600, 0);
    want.url = "https://www.instagram.com/p/BfLg2KRDkXy/".into();
    want.attachments = vec![media("image", "https://scontent.cdninstagram.com/v/t51.2885-15/kettle.jpg")];
    assert_eq!(in_caption, want);
}

#[test]
fn meta_instagram_mention_without_author_or_node_is_an_error() {
    let parsed = meta::parse(&fixture("meta/instagram_mentions.json")).unwrap();
    let mut in_comment = parsed.posts[0].clone();
    let error = meta::complete_mention(&mut in_comment.clone(), br#"{"id":"1"}"#).unwrap_err();
    assert!(error.0.contains("mentioned_comment"), "{error}");
    let error =
        meta::complete_mention(&mut in_comment, br#"{"mentioned_comment":{"id":"1","text":"hi"}}"#).unwrap_err();
    assert!(error.0.contains("mentioned_comment.username"), "{error}");
}

#[test]
fn meta_instagram_messages_unsend_and_echo() {
    let parsed = meta::parse(&fixture("meta/instagram_messages.json")).unwrap();
    let mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTQyNzA0NzA2MzU1NDY0MDo2OTAwMjk1ODQxOTg1MzU4MDQ5MTY0NTMyNDM0MjYzNjY3MgZDZD";
    let mut message = post(Channel::Instagram, IG, mid, Change::Created);
    message.private = true;
    message.thread_id = "1234567890123456".into();
    message.author.id = "1234567890123456".into();
    message.text = "Do you ship to Canada?".into();
    message.posted_at = DateTime::from_timestamp_millis(1_569_262_485_349);
    message.attachments =
        vec![media("image", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17900000000000000")];
    let mut unsent = post(Channel::Instagram, IG, mid, Change::Deleted);
    unsent.private = true;
    unsent.thread_id = "1234567890123456".into();
    unsent.author.id = "1234567890123456".into();
    unsent.posted_at = DateTime::from_timestamp_millis(1_569_262_490_000);
    assert_posts(&parsed, &[message, unsent]);
    assert_eq!(parsed.skipped, ["meta.message_echo"]);
}

#[test]
fn meta_other_objects_are_skipped() {
    let parsed = meta::parse(br#"{"object":"user","entry":[{"id":"1","changes":[]}]}"#).unwrap();
    assert!(parsed.posts.is_empty());
    assert_eq!(parsed.skipped, ["meta.other_object"]);
}

// ---- Generic ----

#[test]
fn generic_messages() {
    let parsed = generic::parse("widget-1", &fixture("generic/message.json")).unwrap();
    let mut first = post(Channel::Chat, "widget-1", "msg-20260301-0001", Change::Created);
    first.private = true;
    first.thread_id = "chat-7f3a".into();
    first.author = Author {
        id: "visitor-551".into(),
        handle: "analima".into(),
        display_name: "Ana Lima".into(),
        email: "ana@example.com".into(),
        ..Author::default()
    };
    first.text = "Hi, my order #88123 never arrived. Can someone help?".into();
    first.language_hint = "en".into();
    first.posted_at = at("2026-03-01T09:30:00Z");
    first.attachments = vec![Attachment {
        name: "screenshot.png".into(),
        content_type: "image/png".into(),
        size: Some(48_213),
        url: "https://cdn.example.com/u/screenshot.png".into(),
    }];
    let mut second = post(Channel::Chat, "widget-1", "msg-20260301-0002", Change::Created);
    second.private = true;
    second.thread_id = "chat-7f3a".into();
    second.in_reply_to = "msg-20260301-0001".into();
    second.author.id = "visitor-551".into();
    second.text = "Hello?".into();
    second.posted_at = at("2026-03-01T09:32:15Z");
    assert_posts(&parsed, &[first, second]);
    assert!(parsed.skipped.is_empty());
}

#[test]
fn generic_review() {
    let parsed = generic::parse("reviews-1", &fixture("generic/review.json")).unwrap();
    let mut want = post(Channel::Review, "reviews-1", "rev-8812", Change::Created);
    want.thread_id = "store-leeds".into();
    want.author = Author { id: "u-17".into(), display_name: "Sam R.".into(), ..Author::default() };
    want.subject = "Slow refund".into();
    want.text = "Two weeks and still no refund for a cancelled order.".into();
    want.rating = Some(1);
    want.language_hint = "en-GB".into();
    want.posted_at = at("2026-02-27T18:04:11.250Z");
    want.url = "https://reviews.example.com/acme/rev-8812".into();
    assert_posts(&parsed, &[want]);
}

#[test]
fn generic_edit() {
    let parsed = generic::parse("reviews-1", &fixture("generic/edit.json")).unwrap();
    let mut want = post(Channel::Review, "reviews-1", "rev-8812", Change::Edited);
    want.text = "Refund arrived after I called. Two stars for the wait.".into();
    want.rating = Some(2);
    want.posted_at = at("2026-03-02T08:00:00Z");
    assert_posts(&parsed, &[want]);
}

#[test]
fn generic_delete() {
    let parsed = generic::parse("widget-1", &fixture("generic/delete.json")).unwrap();
    let mut want = post(Channel::Chat, "widget-1", "msg-20260301-0002", Change::Deleted);
    want.private = true;
    want.thread_id = "chat-7f3a".into();
    assert_posts(&parsed, &[want]);
}

#[test]
fn generic_schema_is_json_and_names_every_field() {
    let schema: serde_json::Value = serde_json::from_str(generic::GENERIC_SCHEMA).unwrap();
    let event = &schema["$defs"]["event"]["properties"];
    for field in [
        "type",
        "id",
        "channel",
        "thread_id",
        "in_reply_to",
        "author",
        "text",
        "rating",
        "title",
        "language",
        "created_at",
        "url",
        "attachments",
    ] {
        assert!(event.get(field).is_some(), "schema lacks {field}");
    }
    assert_eq!(schema["properties"]["events"]["maxItems"], generic::MAX_EVENTS);
}
