// The manual's words for kinds, states and card fields (表頭說明, 狀態, 健保卡基本資料);
// numbering as broker/state.py numbers them.

export const SAM = {
  none: "無安全模組",
  kinds: { 1: "雲端安全模組", 2: "實體安全模組" },
  short: { 0: "無", 1: "已置入", 2: "已驗證" },
  long: { 0: "安全模組未置入", 1: "安全模組已置入", 2: "安全模組已與中心端驗證" },
};

export const HCA = {
  none: "無醫事人員卡",
  kinds: { 1: "醫師卡", 2: "醫事人員卡", 3: "醫事人員行動憑證" },
  short: { 0: "無", 1: "已置入", 2: "已驗證", 3: "已驗 PIN" },
  long: { 0: "未置入醫事人員卡", 1: "已置入醫事人員卡", 2: "醫事人員卡已驗證", 3: "醫事人員卡已驗 PIN" },
};

export const HC = {
  none: "無健保卡",
  kinds: { 1: "實體健保卡", 2: "虛擬健保卡" },
  short: { 0: "無", 1: "已置入", 2: "已驗證", 3: "與醫事人員卡已驗證" },
  long: { 0: "未置入健保卡", 1: "已置入健保卡", 2: "健保卡已驗證", 3: "健保卡與醫事人員卡已驗證" },
};

/** The kind's name, or the "none" word when nothing is there (type 0). */
export function kindName(table, type) {
  return table.kinds[type] ?? table.none;
}

export const SEX = { M: "男性", F: "女性" };
export const IDENTITY = { 1: "福民", 2: "榮民", 3: "一般", 4: "中低收入", 8: "災民" };

/** "女性 (F)", "中低收入 (4)": the manual's text with the code beside it. */
export function coded(table, value) {
  if (value === null || value === undefined || value === "") return "";
  const text = table[value];
  return text ? `${text} (${value})` : String(value);
}
