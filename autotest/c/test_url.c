/* test_url.c — url.c: host classification (Google API / loopback / other,
 * by host never by path), named gateway lists, display and redaction. */
#include "check.h"
#include "url.h"

static void test_classify(void)
{
    CHECK_EQ_INT(eem_url_classify("https://us-central1-aiplatform.googleapis.com/v1/x"),
                 EEM_URL_GOOGLE_API);
    CHECK_EQ_INT(eem_url_classify("https://googleapis.com/"), EEM_URL_GOOGLE_API);
    CHECK_EQ_INT(eem_url_classify("https://ML.GoogleAPIs.com:443/v1"), EEM_URL_GOOGLE_API);
    CHECK_EQ_INT(eem_url_classify("https://evilgoogleapis.com/"), EEM_URL_OTHER);
    CHECK_EQ_INT(eem_url_classify("https://googleapis.com.evil.com/"), EEM_URL_OTHER);
    CHECK_EQ_INT(eem_url_classify("https://ml.googleapis.com@evil.com/"), EEM_URL_OTHER);
    CHECK_EQ_INT(eem_url_classify("https://evil.com/ml.googleapis.com/v1/projects/p/models/m"),
                 EEM_URL_OTHER);
    CHECK_EQ_INT(eem_url_classify("https://evil.com/?h=ml.googleapis.com"), EEM_URL_OTHER);
    CHECK_EQ_INT(eem_url_classify("http://127.0.0.1:9/"), EEM_URL_LOOPBACK);
    CHECK_EQ_INT(eem_url_classify("http://[::1]/"), EEM_URL_LOOPBACK);
    CHECK_EQ_INT(eem_url_classify("http://10.0.0.1/"), EEM_URL_OTHER);
    CHECK_EQ_INT(eem_url_may_carry_secrets("https://10.0.0.1/"), 1);
    CHECK_EQ_INT(eem_url_may_carry_secrets("http://localhost:8/"), 1);
    CHECK_EQ_INT(eem_url_may_carry_secrets("http://10.0.0.1/"), 0);
    CHECK_EQ_INT(eem_url_may_carry_secrets(NULL), 0);
}

static void test_host_list(void)
{
    const char *url = "https://user:pw@GW.example.com:8443/v1/models/m:predict?k=1";
    CHECK_EQ_INT(eem_url_host_in_list(url, "gw.example.com"), 1);
    CHECK_EQ_INT(eem_url_host_in_list(url, "a.example.com, gw.example.com"), 1);
    CHECK_EQ_INT(eem_url_host_in_list(url, "a.example.com\tgw.example.com"), 1);
    CHECK_EQ_INT(eem_url_host_in_list(url, "example.com"), 0);
    CHECK_EQ_INT(eem_url_host_in_list(url, "gw.example.co"), 0);
    CHECK_EQ_INT(eem_url_host_in_list(url, "gw.example.com.evil"), 0);
    CHECK_EQ_INT(eem_url_host_in_list(url, ""), 0);
    CHECK_EQ_INT(eem_url_host_in_list(url, NULL), 0);
    CHECK_EQ_INT(eem_url_host_in_list("http://[::1]:8/", "::1"), 1);
}

static void test_redaction(void)
{
    char buf[256];
    const char *t = "see https://alice:s3cret@h.example/p?key=K1&x=2#frag and 'http://h2/?t=T2'";
    eem_url_redact_in_text(t, strlen(t), buf, sizeof buf);
    CHECK(strcmp(buf, "see https://[redacted]@h.example/p?key=[redacted]&x=[redacted]#frag "
                      "and 'http://h2/?t=[redacted]'") == 0);
    if (strstr(buf, "s3cret") || strstr(buf, "K1") || strstr(buf, "T2"))
        fprintf(stderr, "%s\n", buf);
    /* truncation never splits into a secret */
    eem_url_redact_in_text(t, strlen(t), buf, 12);
    CHECK_EQ_INT(strlen(buf), 11);
    /* text without URLs is unchanged */
    const char *plain = "HEADERS: line 2: a = b";
    eem_url_redact_in_text(plain, strlen(plain), buf, sizeof buf);
    CHECK(strcmp(buf, plain) == 0);
    char shown[128];
    eem_url_for_display("https://u:p@h:1/a/b?k=v#f", shown, sizeof shown);
    CHECK(strcmp(shown, "https://h:1/a/b") == 0);
    eem_name_for_display("/vsicurl/https://u:p@h/x.tif?sig=S", shown, sizeof shown);
    CHECK(strcmp(shown, "/vsicurl/https://h/x.tif") == 0);
}

int main(void)
{
    test_classify();
    test_host_list();
    test_redaction();
    return check_report();
}
