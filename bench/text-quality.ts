// Numbers on a generated text, for bench/convergence.ts: how much of it is made of words
// the model saw in training, how dominated it is by one word, how often it stutters.
//
// Words: the text is lowercased (String.prototype.toLowerCase, no locale); a word is a
// maximal run of letters, combining marks and digits (Unicode \p{L}, \p{M}, \p{N}), which
// may hold apostrophes (' or the typographic ’, read as ') between two such characters:
// "Don't" -> don't, "o'er" -> o'er. Every other character separates words, so
// punctuation, spaces and line breaks are all alike: "'tis" -> tis, "well-met" -> well,
// met, "The, the" -> the, the.

/** What textQuality measures; shares are null when the sample has no words. */
export interface TextQuality {
  /** Words in the sample. */
  words: number;
  /** Share of the sample's words (every occurrence) that occur among the training text's words. */
  real_word_share: number | null;
  /** The sample's most frequent word (ties: the one that comes first in the sample). */
  top_word: string | null;
  /** Its occurrences over the sample's words. */
  top_word_share: number | null;
  /** Words equal to the word just before them ("the the the" has 2), separators in between ignored. */
  immediate_repeats: number;
}

const WORD = /[\p{L}\p{M}\p{N}]+(?:['\u2019][\p{L}\p{M}\p{N}]+)*/gu;

/** The words of `text`, in order, by the rule above. */
export function words(text: string): string[] {
  return (text.toLowerCase().match(WORD) ?? []).map((w) => w.replace(/\u2019/g, "'"));
}

/** The distinct words of a text (the training text's vocabulary of words). */
export function wordSet(text: string): Set<string> {
  return new Set(words(text));
}

/**
 * The quality numbers of `sample` against the words of the training text (a set from
 * wordSet, or the text itself). Pure: same inputs, same result.
 */
export function textQuality(sample: string, training: ReadonlySet<string> | string): TextQuality {
  const known = typeof training === 'string' ? wordSet(training) : training;
  const ws = words(sample);
  const counts = new Map<string, number>();
  let real = 0;
  let repeats = 0;
  ws.forEach((w, i) => {
    if (known.has(w)) real++;
    if (i > 0 && ws[i - 1] === w) repeats++;
    counts.set(w, (counts.get(w) ?? 0) + 1);
  });
  // Map keeps insertion order, so the first word with the highest count is the one the
  // sample uses first among the tied
  let top: string | null = null;
  let topCount = 0;
  for (const [w, c] of counts) {
    if (c > topCount) {
      top = w;
      topCount = c;
    }
  }
  const n = ws.length;
  return {
    words: n,
    real_word_share: n ? real / n : null,
    top_word: top,
    top_word_share: n ? topCount / n : null,
    immediate_repeats: repeats,
  };
}
