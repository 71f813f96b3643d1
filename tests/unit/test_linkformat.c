/*
 * test_linkformat.c - unit tests for common/linkformat.c: RFC 6690 and
 * RFC 9176 examples, RIOT-style payloads, quoted strings with escapes,
 * case-insensitive parameter names, malformed input (-1 with a reason),
 * and serializer quoting rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "linkformat.h"

static void parse_ok(const char *text, struct lf_doc *d)
{
    char err[96];

    if (lf_parse(text, strlen(text), d, err, sizeof(err)) != 0)
        fail_msg("rejected \"%s\": %s", text, err);
}

/* Serialise a parsed document back, comma-separated. */
static void reserialise(const struct lf_doc *d, struct strbuf *sb)
{
    for (unsigned i = 0; i < d->nlinks; i++) {
        if (i)
            sb_putc(sb, ',');
        lf_append_link(sb, d->links[i].target, d->links[i].params, d->links[i].nparams);
    }
}

static void test_rfc6690_examples(void **state)
{
    static const char *doc =
        "</sensors>;ct=40;title=\"Sensor Index\","
        "</sensors/temp>;rt=\"temperature-c\";if=\"sensor\","
        "</sensors/light>;rt=\"light-lux\";if=\"sensor\","
        "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\";rel=\"describedby\","
        "</t>;anchor=\"/sensors/temp\";rel=\"alternate\"";
    struct lf_doc d;
    struct strbuf sb;

    (void)state;
    parse_ok(doc, &d);
    assert_int_equal(d.nlinks, 5);
    assert_string_equal(d.links[0].target, "/sensors");
    assert_string_equal(lf_link_param(&d.links[0], "ct"), "40");
    assert_string_equal(lf_link_param(&d.links[0], "title"), "Sensor Index");
    assert_string_equal(d.links[3].target, "http://www.example.com/sensors/t123");
    assert_string_equal(lf_link_param(&d.links[3], "anchor"), "/sensors/temp");
    assert_string_equal(lf_link_param(&d.links[4], "REL"), "alternate");
    assert_null(lf_link_param(&d.links[4], "rt"));
    sb_init(&sb);
    reserialise(&d, &sb);
    assert_false(sb.oom);
    /* rel is not in the always-quoted list and needs no quotes */
    assert_non_null(strstr(sb.buf, "</sensors>;ct=40;title=\"Sensor Index\","));
    assert_non_null(strstr(sb.buf, ";rel=describedby"));
    struct lf_doc d2;
    parse_ok(sb.buf, &d2);
    assert_int_equal(d2.nlinks, 5);
    assert_string_equal(lf_link_param(&d2.links[1], "rt"), "temperature-c");
    lf_free(&d2);
    sb_free(&sb);
    lf_free(&d);
    assert_null(d.arena);
}

static void test_rfc9176_examples(void **state)
{
    struct lf_doc d;

    (void)state;
    parse_ok("</rd>;rt=core.rd;ct=40,</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40;obs,"
             "</rd-lookup/res>;rt=core.rd-lookup-res;ct=40;obs",
             &d);
    assert_int_equal(d.nlinks, 3);
    assert_string_equal(lf_link_param(&d.links[0], "rt"), "core.rd");
    assert_int_equal(d.links[1].nparams, 3);
    assert_string_equal(d.links[1].params[2].name, "obs");
    assert_false(d.links[1].params[2].has_value);
    assert_string_equal(d.links[1].params[2].value, "");
    lf_free(&d);
    parse_ok("<coap://[2001:db8:3::123]:61616/temp>;rt=\"temperature\";"
             "anchor=\"coap://[2001:db8:3::123]:61616\"",
             &d);
    assert_string_equal(d.links[0].target, "coap://[2001:db8:3::123]:61616/temp");
    assert_string_equal(lf_link_param(&d.links[0], "anchor"), "coap://[2001:db8:3::123]:61616");
    lf_free(&d);
    parse_ok("</reg/1/>;base=\"coap://[2001:db8:3::127]:61616\";ep=node1;d=\"\";lt=86400", &d);
    assert_string_equal(lf_link_param(&d.links[0], "ep"), "node1");
    assert_string_equal(lf_link_param(&d.links[0], "d"), "");
    lf_free(&d);
}

static void test_riot_payloads(void **state)
{
    struct lf_doc d;

    (void)state;
    /* gcoap / cord_ep style: bare links, ct as number, obs flag */
    parse_ok("</node/info>,</sense/temp>;rt=\"temperature\";obs,</sense/hum>;ct=0;rt=\"humidity\"",
             &d);
    assert_int_equal(d.nlinks, 3);
    assert_int_equal(d.links[0].nparams, 0);
    assert_string_equal(d.links[2].target, "/sense/hum");
    lf_free(&d);
    /* whitespace and newlines between links and around separators */
    parse_ok("  </a>;ct=40 ,\r\n </b> ; rt=x\n", &d);
    assert_int_equal(d.nlinks, 2);
    assert_string_equal(lf_link_param(&d.links[1], "rt"), "x");
    lf_free(&d);
    /* repeated parameter: first value wins for lf_link_param, both kept */
    parse_ok("</a>;rt=one;RT=two;Title*=UTF-8'de'n%c3%a4chstes", &d);
    assert_int_equal(d.links[0].nparams, 3);
    assert_string_equal(d.links[0].params[1].name, "rt");
    assert_string_equal(lf_link_param(&d.links[0], "rt"), "one");
    assert_string_equal(lf_link_param(&d.links[0], "title*"), "UTF-8'de'n%c3%a4chstes");
    lf_free(&d);
    parse_ok("", &d);
    assert_int_equal(d.nlinks, 0);
    lf_free(&d);
    parse_ok(" \n", &d);
    assert_int_equal(d.nlinks, 0);
    lf_free(&d);
    parse_ok("<>", &d);
    assert_string_equal(d.links[0].target, "");
    lf_free(&d);
}

static void test_escapes(void **state)
{
    struct lf_doc d;
    struct strbuf sb;

    (void)state;
    parse_ok("</a>;title=\"say \\\"hi\\\" \\\\ ok, fine; yes\"", &d);
    assert_string_equal(lf_link_param(&d.links[0], "title"), "say \"hi\" \\ ok, fine; yes");
    sb_init(&sb);
    reserialise(&d, &sb);
    assert_string_equal(sb.buf, "</a>;title=\"say \\\"hi\\\" \\\\ ok, fine; yes\"");
    sb_free(&sb);
    lf_free(&d);
}

static void test_malformed(void **state)
{
    static const char *bad[] = {
        "/a",                 /* no '<' */
        "</a",                /* unterminated target */
        "</a b>",             /* space in target */
        "</a>,",              /* trailing comma */
        ",</a>",              /* leading comma */
        "</a>;",              /* ';' without a parameter */
        "</a>;=x",            /* empty name */
        "</a>;ct=",           /* empty unquoted value */
        "</a>;t=\"abc",       /* unterminated quote */
        "</a>;t=\"abc\\",     /* escape at end */
        "</a>;t=\"a\\\x1c\"", /* escaped control character (fuzz: regress-escaped-control) */
        "</a>;t=\"a\\\n\"",   /* escaped newline */
        "</a>;t=\"a\x01\"",   /* control character */
        "</a> </b>",          /* missing comma */
        "</a>;ct=4 0",        /* junk after value */
        "</a>;rt=a\"b\"",     /* quote inside a token */
        "</a>x",              /* junk after target */
        "<</a>",              /* '<' in target */
    };
    struct lf_doc d;
    char err[96];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (lf_parse(bad[i], strlen(bad[i]), &d, err, sizeof(err)) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(err[0] != '\0');
        assert_int_equal(d.nlinks, 0);
        assert_null(d.arena);
    }
    /* not NUL-terminated: the parser stops at len */
    const char buf[] = {'<', '/', 'a', '>', ';', 'c', 't', '=', '4', '0'};
    assert_int_equal(lf_parse(buf, sizeof(buf), &d, err, sizeof(err)), 0);
    assert_string_equal(lf_link_param(&d.links[0], "ct"), "40");
    lf_free(&d);
    assert_int_equal(lf_parse(buf, 7, &d, err, sizeof(err)), 0); /* "</a>;ct": a flag */
    assert_false(d.links[0].params[0].has_value);
    lf_free(&d);
    assert_int_equal(lf_parse(buf, 8, &d, err, sizeof(err)), -1); /* "</a>;ct=" */
}

static void test_serializer_quoting(void **state)
{
    struct strbuf sb;
    struct lf_param p[] = {{"ct", "40", true},     {"obs", "", false}, {"rt", "core.rd", true},
                           {"if", "sensor", true}, {"sz", "", true},   {"x", "a b", true}};

    (void)state;
    sb_init(&sb);
    lf_append_link(&sb, "/rd", p, 6);
    assert_string_equal(sb.buf, "</rd>;ct=40;obs;rt=\"core.rd\";if=\"sensor\";sz=\"\";x=\"a b\"");
    sb_reset(&sb);
    lf_append_param(&sb, "base", "coap://[2001:db8::1]:5683", true);
    assert_string_equal(sb.buf, ";base=\"coap://[2001:db8::1]:5683\"");
    sb_free(&sb);
}

static void test_large_document(void **state)
{
    struct strbuf sb;
    struct lf_doc d;
    char err[64];

    (void)state;
    sb_init(&sb);
    for (int i = 0; i < 2000; i++)
        sb_printf(&sb, "%s</r/%d>;rt=\"t%d\";if=sensor;obs", i ? "," : "", i, i);
    assert_int_equal(lf_parse(sb.buf, sb.len, &d, err, sizeof(err)), 0);
    assert_int_equal(d.nlinks, 2000);
    assert_string_equal(d.links[1999].target, "/r/1999");
    assert_string_equal(lf_link_param(&d.links[1234], "rt"), "t1234");
    lf_free(&d);
    sb_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6690_examples), cmocka_unit_test(test_rfc9176_examples),
        cmocka_unit_test(test_riot_payloads),    cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_malformed),        cmocka_unit_test(test_serializer_quoting),
        cmocka_unit_test(test_large_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
