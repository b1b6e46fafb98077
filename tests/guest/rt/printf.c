/* Guest runtime: a small printf onto COM1 (strings, chars, decimal and hex integers). */
#include "rt.h"

struct fmt_spec {
    bool left;      /* '-' flag */
    char pad;       /* ' ' or '0' */
    int width;
    int length;     /* 0 int, 1 long, 2 long long, 3 size_t */
};

static int emit_padded(const char *s, size_t len, const struct fmt_spec *spec)
{
    int pad = spec->width > (int)len ? spec->width - (int)len : 0;
    int out = 0;
    if (!spec->left)
        for (; pad > 0; pad--, out++)
            serial_putc(spec->pad);
    for (size_t i = 0; i < len; i++, out++)
        serial_putc(s[i]);
    for (; pad > 0; pad--, out++)
        serial_putc(' ');
    return out;
}

/* Formats val in base 10 or 16 into the end of buf; returns the first character. */
static char *format_unsigned(char *end, uint64_t val, unsigned base, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;
    do {
        *--p = digits[val % base];
        val /= base;
    } while (val);
    return p;
}

static uint64_t fetch_unsigned(va_list *ap, int length)
{
    switch (length) {
    case 1: return va_arg(*ap, unsigned long);
    case 2: return va_arg(*ap, unsigned long long);
    case 3: return va_arg(*ap, size_t);
    default: return va_arg(*ap, unsigned int);
    }
}

static int64_t fetch_signed(va_list *ap, int length)
{
    switch (length) {
    case 1: return va_arg(*ap, long);
    case 2: return va_arg(*ap, long long);
    case 3: return (int64_t)va_arg(*ap, size_t);
    default: return va_arg(*ap, int);
    }
}

static const char *parse_spec(const char *f, struct fmt_spec *spec)
{
    spec->left = false;
    spec->pad = ' ';
    spec->width = 0;
    spec->length = 0;
    for (;; f++) {
        if (*f == '-')
            spec->left = true;
        else if (*f == '0')
            spec->pad = '0';
        else
            break;
    }
    while (*f >= '0' && *f <= '9')
        spec->width = spec->width * 10 + (*f++ - '0');
    if (*f == 'z') {
        spec->length = 3;
        f++;
    }
    while (*f == 'l' && spec->length < 2) {
        spec->length++;
        f++;
    }
    return f;
}

static int emit_conversion(char conv, const struct fmt_spec *spec, va_list *ap)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    char *p;
    switch (conv) {
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            s = "(null)";
        return emit_padded(s, strlen(s), spec);
    }
    case 'c': {
        char c = (char)va_arg(*ap, int);
        return emit_padded(&c, 1, spec);
    }
    case 'd':
    case 'i': {
        int64_t v = fetch_signed(ap, spec->length);
        p = format_unsigned(end, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, false);
        if (v < 0)
            *--p = '-';
        return emit_padded(p, (size_t)(end - p), spec);
    }
    case 'u':
        p = format_unsigned(end, fetch_unsigned(ap, spec->length), 10, false);
        return emit_padded(p, (size_t)(end - p), spec);
    case 'x':
    case 'X':
        p = format_unsigned(end, fetch_unsigned(ap, spec->length), 16, conv == 'X');
        return emit_padded(p, (size_t)(end - p), spec);
    case 'p':
        p = format_unsigned(end, (uintptr_t)va_arg(*ap, void *), 16, false);
        *--p = 'x';
        *--p = '0';
        return emit_padded(p, (size_t)(end - p), spec);
    case '%':
        serial_putc('%');
        return 1;
    default:
        serial_putc('?');
        return 1;
    }
}

int vprintf(const char *fmt, va_list ap)
{
    int out = 0;
    va_list args;
    va_copy(args, ap);
    while (*fmt) {
        if (*fmt != '%') {
            serial_putc(*fmt++);
            out++;
            continue;
        }
        struct fmt_spec spec;
        fmt = parse_spec(fmt + 1, &spec);
        if (!*fmt)
            break;
        out += emit_conversion(*fmt++, &spec, &args);
    }
    va_end(args);
    return out;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int out = vprintf(fmt, ap);
    va_end(ap);
    return out;
}
